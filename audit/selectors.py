"""Reads of the audit trail (staff API and admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from audit.models import AuditChainCheckpoint, AuditEvent
from core.errors import InvalidRequest


def audit_event_list(
    *,
    actor: int | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    **_: Any,
) -> QuerySet[AuditEvent]:
    """Newest first; ``action`` ending in "." matches a prefix ("appointment.")."""
    events = AuditEvent.objects.all().order_by("-occurred_at", "-id")
    if actor is not None:
        events = events.filter(actor_id=actor)
    if action:
        events = (
            events.filter(action__startswith=action)
            if action.endswith(".")
            else events.filter(action=action)
        )
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if occurred_from is not None:
        events = events.filter(occurred_at__gte=occurred_from)
    if occurred_to is not None:
        events = events.filter(occurred_at__lt=occurred_to)
    return events


def audit_events_after(events: QuerySet[AuditEvent], after: int) -> QuerySet[AuditEvent]:
    """The events of ``events`` (newest first) older than event ``after`` in that order:
    a keyset page, read from the ``occurred_at`` index at any depth. An unknown id is
    refused (the caller made it up: a ``next`` link only names listed events)."""
    anchor = AuditEvent.objects.filter(pk=after).values_list("occurred_at", flat=True).first()
    if anchor is None:
        raise InvalidRequest("'after' names no audit event.", code="invalid_cursor")
    return events.filter(occurred_at__lte=anchor).filter(
        Q(occurred_at__lt=anchor) | Q(id__lt=after)
    )


def audit_chain_checkpoint() -> AuditChainCheckpoint | None:
    """What the periodic verification last stored (one row; None before its first run)."""
    return AuditChainCheckpoint.objects.filter(pk=AuditChainCheckpoint.SINGLETON_PK).first()
