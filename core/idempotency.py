"""Idempotency-Key handling for unsafe API calls.

Written by hand: no maintained package supports Django 5.2. Modelled on the IETF
draft "The Idempotency-Key HTTP Header Field": a key is unique per (user, endpoint),
bound to a fingerprint of the request body, its first response is stored and
replayed, a concurrent duplicate is 409 and a reused key with another body is 422.

An in-flight claim is a lease (``IDEMPOTENCY_IN_PROGRESS_LEASE_SECONDS``, 60 s, longer
than any request may run): a request killed before it answers frees its key after it.
A stored answer is replayed for ``IDEMPOTENCY_KEY_TTL_HOURS`` (24 h). Beat's
``core.idempotency_purge`` deletes expired records and lapsed claims in batches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.db import is_postgres
from core.errors import Conflict, InvalidRequest, Unprocessable
from core.models import IdempotencyRecord
from core.renderers import FastJSONRenderer

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
SCOPE_MAX_LENGTH = 200  # IdempotencyRecord.scope

ViewMethod = TypeVar("ViewMethod", bound=Callable[..., Response])


def json_body_fingerprint(request: Request) -> str:
    """SHA-256 of the canonical body (key order and spacing of JSON do not matter).

    A multipart body is fingerprinted by its fields and the bytes of its files, so the
    same key with another file of the same name is a different request (422).
    """
    data = request.data
    if isinstance(data, QueryDict):
        canonical_data: Any = {key: data.getlist(key) for key in sorted(data)}
    else:
        canonical_data = data
    digest = hashlib.sha256()
    canonical = json.dumps(canonical_data, sort_keys=True, separators=(",", ":"), default=str)
    digest.update(canonical.encode())
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            digest.update(f"\0{name}\0{upload.name}\0".encode())
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)  # the view reads it again
    return digest.hexdigest()


def _validated_key(request: Request, *, required: bool) -> str | None:
    key = request.headers.get(HEADER)
    if (required or key) and not request.user.is_authenticated:
        # Keys are scoped per user; an anonymous caller has no scope to claim in.
        raise NotAuthenticated()
    if key is None or key == "":
        if required:
            raise InvalidRequest(
                f"The {HEADER} header is required for this request.",
                code="idempotency_key_missing",
            )
        return None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            f"The {HEADER} header must be 1-{MAX_KEY_LENGTH} printable characters.",
            code="idempotency_key_invalid",
        )
    return key


def _scope(request: Request) -> str:
    """Method and path: the endpoint *and* the resource (``/appointments/7/cancel/``).

    The route pattern alone would let a key used on one appointment replay its answer
    for another appointment's request with the same (often empty) body.
    """
    scope = f"{request.method} {request.path}"
    if len(scope) <= SCOPE_MAX_LENGTH:
        return scope
    return f"{request.method} sha256:{hashlib.sha256(request.path.encode()).hexdigest()}"


def _claim(request: Request, key: str, fingerprint: str) -> IdempotencyRecord | Response:
    """Insert the key as in progress, or answer from the existing record.

    The unique constraint on (user, scope, key) decides which of concurrent duplicates
    runs: the insert commits on its own, before the handler.
    """
    lookup = {"user": request.user, "scope": _scope(request), "key": key}
    # The claim is a lease: a request killed before it answers (a worker timeout, OOM)
    # frees its key after it, instead of answering 409 for the whole replay window.
    lease = timedelta(seconds=settings.IDEMPOTENCY_IN_PROGRESS_LEASE_SECONDS)
    for _attempt in range(3):
        now = timezone.now()
        claimed = _insert_in_progress(lookup, fingerprint=fingerprint, expires_at=now + lease)
        if claimed is not None:
            return claimed
        existing = IdempotencyRecord.objects.filter(**lookup).first()
        if existing is not None and existing.expires_at <= now:
            # An expired key (or a lapsed claim) is free again: drop it and claim anew.
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing is not None:
            return _answer_from(existing, fingerprint)
        # The holder released the key (its request failed) between our insert and read.
    raise Conflict(
        f"A request with this {HEADER} is still being processed.",
        code="idempotency_request_in_progress",
    )


def _insert_in_progress(
    lookup: dict[str, Any], *, fingerprint: str, expires_at: datetime
) -> IdempotencyRecord | None:
    """The new in-progress record, or None when the key already has one.

    On PostgreSQL one ``INSERT … ON CONFLICT DO NOTHING`` that commits by itself with a
    relaxed commit (``_RELAXED_COMMIT``) instead of a transaction around an ORM
    ``create``, which cost more than the booking it guards (docs/performance.md).
    """
    record = IdempotencyRecord(**lookup, fingerprint=fingerprint, expires_at=expires_at)
    connection = transaction.get_connection()
    if not is_postgres(connection):
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
            return None
        return record
    record.created_at = timezone.now()
    table = IdempotencyRecord._meta.db_table
    relaxed = _RELAXED_COMMIT if not connection.in_atomic_block else "TRUE"
    sql = (
        f"INSERT INTO {table} (user_id, scope, key, fingerprint, state, created_at, expires_at) "
        f"SELECT %s, %s, %s, %s, %s, %s, %s WHERE {relaxed} "
        "ON CONFLICT (user_id, scope, key) DO NOTHING RETURNING id"
    )
    values = [
        record.user_id, record.scope, record.key, record.fingerprint, record.state,
        record.created_at, record.expires_at,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return None
    record.pk = row[0]
    record._state.adding = False
    record._state.db = connection.alias
    return record


def _answer_from(existing: IdempotencyRecord, fingerprint: str) -> Response:
    if existing.fingerprint != fingerprint:
        raise Unprocessable(
            f"This {HEADER} was already used with a different request body.",
            code="idempotency_key_reused",
        )
    if existing.state == IdempotencyRecord.State.IN_PROGRESS:
        raise Conflict(
            f"A request with this {HEADER} is still being processed.",
            code="idempotency_request_in_progress",
        )
    return Response(
        existing.response_body,
        status=existing.response_status,
        headers={REPLAYED_HEADER: "true"},
    )


# Appended to the WHERE of a statement that runs in autocommit: its commit skips the wait
# for the WAL flush (PostgreSQL). Only for the idempotency record itself, never for the
# change it guards: a database crash may lose the last fraction of a second of records,
# and a retry then meets the durable change (the booked slot answers 409) instead of a
# replay, never a duplicate. ``set_config(…, true)`` lasts for the statement's own
# transaction only, so it is safe behind PgBouncer in transaction mode.
_RELAXED_COMMIT = "set_config('synchronous_commit', 'off', true) IS NOT NULL"


def _store(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        record.delete()  # a server failure must not be replayed: the client may retry
        return
    body = FastJSONRenderer().render(response.data) or b"null"
    # The answer is replayed for the TTL from now on (the claim only had its lease).
    expires_at = timezone.now() + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    connection = transaction.get_connection()
    if not is_postgres(connection):
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyRecord.State.COMPLETED,
            response_status=response.status_code,
            response_body=orjson.loads(body),
            expires_at=expires_at,
        )
        return
    # One UPDATE that commits by itself (relaxed), instead of a transaction around save();
    # the body goes in as the JSON text the renderer wrote.
    relaxed = _RELAXED_COMMIT if not connection.in_atomic_block else "TRUE"
    sql = (
        f"UPDATE {IdempotencyRecord._meta.db_table} "  # noqa: S608 - names and a constant
        "SET state = %s, response_status = %s, response_body = %s::jsonb, expires_at = %s "
        f"WHERE id = %s AND {relaxed}"
    )
    values = [
        IdempotencyRecord.State.COMPLETED, response.status_code, body.decode(), expires_at,
        record.pk,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def idempotent(
    *,
    required: bool,
    fingerprint: Callable[[Request], str] = json_body_fingerprint,
) -> Callable[[ViewMethod], ViewMethod]:
    """Decorate a DRF view handler (``post``) with Idempotency-Key semantics."""

    def decorator(handler: ViewMethod) -> ViewMethod:
        @wraps(handler)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = _validated_key(request, required=required)
            if key is None:
                return handler(view, request, *args, **kwargs)
            claimed = _claim(request, key, fingerprint(request))
            if isinstance(claimed, Response):
                return claimed
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                try:
                    response = view.handle_exception(exc)  # domain errors are answers too
                except Exception:
                    claimed.delete()  # unexpected failure: release the key for a retry
                    raise
            _store(claimed, response)
            return response

        return cast(ViewMethod, wrapper)

    return decorator


PURGE_BATCH_SIZE = 5_000


def idempotency_purge_expired(
    *, batch_size: int = PURGE_BATCH_SIZE, seconds: float | None = None
) -> int:
    """Delete records past their replay window or lapsed claims; returns how many.

    Run by beat (``core.idempotency_purge``). A batch per transaction, so a large backlog
    never holds one long transaction or a long lock on the table; at most ``seconds``
    (``RETENTION_TIME_BUDGET_SECONDS``), the next run takes the rest.
    """
    from core.retention import Batches, delete_rows, ids_of

    budget = settings.RETENTION_TIME_BUDGET_SECONDS if seconds is None else seconds
    expired = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now())
    batches = Batches(batch_size=batch_size, seconds=budget)
    return batches.delete(ids_of(expired), delete_rows(IdempotencyRecord))
