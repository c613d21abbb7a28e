"""JWT authentication with each user's row kept for a few seconds per process, and each
access token decoded once per process.

simplejwt looks the user up on every request (what that costs: docs/performance.md,
"JWT user"). A process here keeps the row it read for ``AUTH_USER_CACHE_SECONDS``
(5 s by default; 0 turns it off) and builds a fresh ``User`` from it for each request,
so no two requests share an instance. A save or delete of the user in this process
drops the entry at once; in other processes a deactivation or a role change takes
effect within those seconds. (An access token stays valid until it expires either way:
that is how a JWT works; a deactivated user's requests are refused.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow, get_md5_hash_password

from accounts.models import User
from core.db import is_postgres
from core.sql import one_row

MAX_CACHED_USERS = 10_000  # past this the cache starts again empty

_FIELD_NAMES = tuple(field.attname for field in User._meta.concrete_fields)
_rows: dict[Any, tuple[float, tuple[Any, ...]]] = {}
_lock = threading.Lock()
# The cache's clock: monotonic, so a wall-clock jump neither keeps nor drops rows. Tests
# replace it to pass the TTL without sleeping.
clock: Callable[[], float] = time.monotonic


def _ttl() -> float:
    return float(getattr(settings, "AUTH_USER_CACHE_SECONDS", 5))


def recent_user(user_id: Any) -> User | None:
    """A fresh instance of the row read less than the TTL ago, or None."""
    entry = _rows.get(str(user_id))  # the token's claim is a string
    if entry is None or entry[0] < clock():
        return None
    return User.from_db("default", _FIELD_NAMES, entry[1])


def remember_user(user: User) -> None:
    ttl = _ttl()
    if ttl <= 0:
        return
    row = tuple(getattr(user, name) for name in _FIELD_NAMES)
    with _lock:
        if len(_rows) >= MAX_CACHED_USERS:
            _rows.clear()
        _rows[str(user.pk)] = (clock() + ttl, row)


def forget_user(user_id: Any) -> None:
    with _lock:
        _rows.pop(str(user_id), None)


def forget_all_users() -> None:
    with _lock:
        _rows.clear()


@receiver((post_save, post_delete), sender=User, dispatch_uid="accounts.forget_cached_user")
def _user_changed(sender: type[User], instance: User, **kwargs: Any) -> None:
    forget_user(instance.pk)


# Access tokens this process verified, by their exact bytes: (class, claims). A token's
# signature, type and id checks give the same answer for the same bytes every time; only
# its expiry depends on the clock, and that is checked again on each use.
_verified: dict[bytes, tuple[type[Token], dict[str, Any]]] = {}
MAX_VERIFIED_TOKENS = 10_000  # past this the cache starts again empty


def _reuse_verified(raw_token: bytes) -> Token | None:
    entry = _verified.get(raw_token)
    if entry is None:
        return None
    token_class, claims = entry
    token = token_class.__new__(token_class)  # as Token.__init__ sets it, minus the decode
    token.token = raw_token  # type: ignore[assignment]
    token.current_time = aware_utcnow()
    token.payload = dict(claims)
    try:
        token.check_exp()
    except TokenError:
        _verified.pop(raw_token, None)
        return None  # expired: the full check answers, with simplejwt's own message
    return token


class CachedUserJWTAuthentication(JWTAuthentication):
    """simplejwt's ``JWTAuthentication``, reading the user through the cache above and
    decoding each access token once per process (its expiry is checked on every use).

    On a miss (PostgreSQL) the row is read with SQL compiled once per process: compiling
    the ORM query was most of the lookup's cost. The checks are simplejwt's own.
    """

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _reuse_verified(raw_token)
        if token is not None:
            return token
        token = super().get_validated_token(raw_token)
        with _lock:
            if len(_verified) >= MAX_VERIFIED_TOKENS:
                _verified.clear()
            _verified[raw_token] = (type(token), dict(token.payload))
        return token

    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken(
                str(_("Token contained no recognizable user identification"))
            ) from exc
        pk = _user_pk(user_id)
        user = recent_user(pk) if pk is not None else None
        if user is None:
            user = _read_user(pk) if pk is not None else None
            if user is None:
                raise AuthenticationFailed(str(_("User not found")), code="user_not_found")
            remember_user(user)
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(str(_("User is inactive")), code="user_inactive")
        if token_credentials_version(validated_token) != user.credentials_version:
            # Issued before a password, email, role or access change: revoked.
            raise AuthenticationFailed(
                str(_("This token was revoked. Sign in again.")), code="token_revoked"
            )
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(
                str(_("The user's password has been changed.")), code="password_changed"
            )
        return user


# The claim with the user's credentials_version a token was issued under (absent: 0).
CREDENTIALS_VERSION_CLAIM = "cv"


def token_credentials_version(token: Token) -> int:
    value = token.get(CREDENTIALS_VERSION_CLAIM, 0)
    return value if isinstance(value, int) else -1


def _user_by_id(pk: int) -> QuerySet[User, tuple[Any, ...]]:
    """Every column of one user (``core.sql.one_row`` compiles it once)."""
    return User.objects.filter(pk=pk).order_by().values_list(*_FIELD_NAMES)


def _user_pk(claim: Any) -> int | None:
    """The token's user id as a key of the table, or None (a bigint column)."""
    try:
        pk = int(claim)
    except (TypeError, ValueError):
        return None
    return pk if 0 < pk < 2**63 else None


def _read_user(pk: int) -> User | None:
    connection = connections[DEFAULT_DB_ALIAS]
    if not is_postgres(connection):
        return User.objects.filter(pk=pk).first()
    row = one_row(_user_by_id, pk, alias=connection.alias)
    return None if row is None else User.from_db(connection.alias, _FIELD_NAMES, row)


class CachedUserJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme: the same bearer JWT as simplejwt's (``jwtAuth``)."""

    target_class = "accounts.authentication.CachedUserJWTAuthentication"
