"""Small helpers every scheduling service module uses."""

from __future__ import annotations

from django.db import IntegrityError

from accounts.models import User
from accounts.permissions import has_active_role
from core.errors import RoleNotAllowed


def require_role(user: User, *roles: str) -> None:
    if not has_active_role(user, *roles):
        raise RoleNotAllowed(details={"allowed_roles": list(roles)})


def constraint_name(exc: IntegrityError) -> str:
    """The violated constraint's name (psycopg diagnostics), or the message on SQLite."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or str(exc)
