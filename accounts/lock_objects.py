"""Every row lock of accounts is taken here, one row at a time."""

from __future__ import annotations

from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import Hospital, User


def user_lock(user_id: int) -> User:
    """A user's row as committed (identity, email, role, superuser flag), locked."""
    rows = User.objects.select_for_update().only("id", "email", "role", "is_superuser")
    return rows.get(pk=user_id)


def outstanding_token_lock(jti: str) -> OutstandingToken:
    """A refresh token's row, locked: concurrent refreshes of one token queue here."""
    return OutstandingToken.objects.select_for_update().get(jti=jti)


def hospital_lock(hospital_id: int) -> Hospital:
    return Hospital.objects.select_for_update().get(pk=hospital_id)
