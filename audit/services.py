"""Sealing the audit trail into its hash chain, and checking the chain.

Sealing is separate from writing so that the booking path never waits for a global
lock: ``core.audit.audit_record`` inserts rows unsealed, and one sealer at a time (a
PostgreSQL advisory lock) appends an ``AuditSeal`` link for each unsealed row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from audit.models import AuditEvent, AuditSeal

GENESIS_HASH = "0" * 64
SEAL_BATCH_SIZE = 1000
# pg_advisory_xact_lock key: one sealer at a time across every web and worker process.
SEAL_LOCK_KEY = 7_300_401
SEAL_LOOKBACK = timedelta(hours=1)


def canonical_event(event: AuditEvent) -> str:
    """The event row as canonical JSON: sorted keys, no spaces, times in ISO 8601 UTC."""
    row: dict[str, Any] = {
        "id": event.pk,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "changes": event.changes,
        "metadata": event.metadata,
        "request_id": event.request_id,
        "ip_address": event.ip_address,
        "occurred_at": event.occurred_at.isoformat(),
    }
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical_event(event)).encode()).hexdigest()


def _take_seal_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
    # SQLite (the demo) serialises writers anyway.


def _unsealed(last: AuditSeal | None, *, full: bool) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(seal__isnull=True)
    if last is not None and not full:
        # Only rows written around the newest sealed one: the anti-join stays small however
        # long the trail grows. A row committed later than this (a transaction open for
        # over SEAL_LOOKBACK) is sealed by the periodic full pass.
        newest = last.event.occurred_at
        events = events.filter(occurred_at__gte=newest - SEAL_LOOKBACK)
    return events.order_by("id")


@transaction.atomic
def audit_seal_pending(*, batch_size: int = SEAL_BATCH_SIZE, full: bool = False) -> int:
    """Append chain links for up to ``batch_size`` unsealed events; returns how many.

    ``full`` looks at the whole table instead of the recent window.
    """
    _take_seal_lock()
    last = AuditSeal.objects.select_related("event").order_by("-id").first()
    prev_hash = last.hash if last is not None else GENESIS_HASH
    unsealed = list(_unsealed(last, full=full)[:batch_size])
    links = []
    for event in unsealed:
        current = link_hash(prev_hash, event)
        links.append(AuditSeal(event=event, prev_hash=prev_hash, hash=current))
        prev_hash = current
    # bulk_create keeps the list order, so link ids follow the chain order.
    AuditSeal.objects.bulk_create(links)
    return len(links)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    unsealed: int
    broken_event_id: int | None = None
    broken_seal_id: int | None = None
    reason: str = ""


def audit_chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain in seal order; report the first link that does not hold."""
    prev_hash = GENESIS_HASH
    checked = 0
    seals = AuditSeal.objects.select_related("event").order_by("id")
    for seal in seals.iterator(chunk_size=chunk_size):
        if seal.prev_hash != prev_hash:
            return _broken(
                seal, checked, "link does not follow the previous one (a link is missing)"
            )
        if link_hash(prev_hash, seal.event) != seal.hash:
            return _broken(seal, checked, "event row does not match its sealed hash (row altered)")
        prev_hash = seal.hash
        checked += 1
    unsealed = AuditEvent.objects.filter(seal__isnull=True).count()
    return ChainReport(ok=True, checked=checked, unsealed=unsealed)


def _broken(seal: AuditSeal, checked: int, reason: str) -> ChainReport:
    return ChainReport(
        ok=False,
        checked=checked,
        unsealed=AuditEvent.objects.filter(seal__isnull=True).count(),
        broken_event_id=seal.event_id,
        broken_seal_id=seal.pk,
        reason=reason,
    )
