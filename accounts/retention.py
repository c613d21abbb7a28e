"""Retention of API refresh tokens (``core.retention`` runs it; docs/retention.md).

Every login and every refresh (rotation) adds an ``OutstandingToken`` row, and a rotated
or revoked one a ``BlacklistedToken`` row: without a purge the tables grow with every
session forever. A token past its ``expires_at`` is refused for its expiry alone, so its
rows decide nothing any more: both go (what simplejwt's ``flushexpiredtokens`` does,
batched). A token not yet expired stays, blacklisted or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from core.retention import Batches, delete_rows, ids_of, retention_purge


@retention_purge("refresh_tokens")
def refresh_tokens_purge(batches: Batches, now: datetime) -> int:
    expired = OutstandingToken.objects.filter(expires_at__lt=now)
    delete_tokens = delete_rows(OutstandingToken)

    def delete(ids: Sequence[Any]) -> int:
        BlacklistedToken.objects.filter(token_id__in=ids).delete()  # no children: one DELETE
        return delete_tokens(ids)

    return batches.delete(ids_of(expired), delete)
