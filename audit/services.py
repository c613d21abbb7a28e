"""Sealing the audit trail into its hash chain, checking the chain, publishing its head.

Sealing is separate from writing so that the booking path never waits for a global
lock: ``core.audit.audit_record`` inserts rows unsealed, and one sealer at a time (a
PostgreSQL advisory lock) appends an ``AuditSeal`` link for each unsealed row.

Each link is ``HMAC-SHA256(key, prev_hash + canonical JSON of the event)`` with the key
from the environment (``audit.keys``): whoever can write the tables but lacks the key
cannot reseal a rewritten row. Whoever holds the key too (a compromised worker) could
rewrite a tail and reseal it; the head published after every seal run (a log line and
Prometheus gauges, outside the database) is what catches that: ``verify_audit_log
--head`` refuses a chain that no longer contains a head once published.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit import metrics
from audit.keys import ChainKey, keyring, signing_key
from audit.lock_objects import chain_checkpoint_lock
from audit.models import AuditChainCheckpoint, AuditEvent, AuditSeal
from core.db import is_postgres

GENESIS_HASH = "0" * 64
SEAL_BATCH_SIZE = 1000
# pg_advisory_xact_lock key: one sealer at a time across every web and worker process.
SEAL_LOCK_KEY = 7_300_401
SEAL_LOOKBACK = timedelta(hours=1)
# Links sealed before the chain was keyed (migration 0003) name no key.
LEGACY_KEY_ID = ""
# Links one verification step checks in one transaction (the checkpoint row stays locked).
VERIFY_STEP_LINKS = 5000
# A verification run stops after this long and resumes at the next beat.
VERIFY_TIME_BUDGET_SECONDS = 120.0

logger = logging.getLogger(__name__)
head_logger = structlog.get_logger("audit.head")


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


def link_hash(prev_hash: str, event: AuditEvent, key: ChainKey | None = None) -> str:
    """The keyed link for ``event`` after ``prev_hash`` (the signing key unless given)."""
    secret = (key or signing_key()).secret
    message = (prev_hash + canonical_event(event)).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def legacy_link_hash(prev_hash: str, event: AuditEvent) -> str:
    """How links were made before the chain was keyed: plain sha256, verifiable by anyone."""
    return hashlib.sha256((prev_hash + canonical_event(event)).encode()).hexdigest()


def _take_seal_lock() -> None:
    if is_postgres(connection):
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


def _position_after(last: AuditSeal | None) -> int:
    """The chain length up to ``last``. Counted once, when the first keyed link follows
    unkeyed ones; every later link carries its position."""
    if last is None:
        return 0
    if last.position is not None:
        return last.position
    return AuditSeal.objects.filter(id__lte=last.pk).count()


@transaction.atomic
def audit_seal_pending(*, batch_size: int = SEAL_BATCH_SIZE, full: bool = False) -> int:
    """Append chain links for up to ``batch_size`` unsealed events; returns how many.

    ``full`` looks at the whole table instead of the recent window. Raises
    ImproperlyConfigured without ``AUDIT_CHAIN_KEY``: rows then wait, unsealed.
    """
    key = signing_key()
    _take_seal_lock()
    last = AuditSeal.objects.select_related("event").order_by("-id").first()
    prev_hash = last.hash if last is not None else GENESIS_HASH
    unsealed = list(_unsealed(last, full=full)[:batch_size])
    if not unsealed:
        return 0
    position = _position_after(last)
    links = []
    for event in unsealed:
        position += 1
        current = link_hash(prev_hash, event, key)
        links.append(
            AuditSeal(
                event=event,
                prev_hash=prev_hash,
                hash=current,
                key_id=key.key_id,
                position=position,
            )
        )
        prev_hash = current
    # bulk_create keeps the list order, so link ids follow the chain order.
    AuditSeal.objects.bulk_create(links)
    return len(links)


@dataclass(frozen=True)
class ChainHead:
    """The newest link: what is published outside the database after each seal run."""

    seal_id: int
    event_id: int
    hash: str
    count: int
    sealed_at: datetime

    @property
    def token(self) -> str:
        """The form ``verify_audit_log --head`` takes."""
        return f"{self.seal_id}:{self.hash}"


def audit_chain_head() -> ChainHead | None:
    last = AuditSeal.objects.order_by("-id").first()
    if last is None:
        return None
    return ChainHead(
        seal_id=last.pk,
        event_id=last.event_id,
        hash=last.hash,
        count=_position_after(last),
        sealed_at=last.sealed_at,
    )


def audit_head_publish() -> ChainHead | None:
    """Write the head where the database cannot reach: a log line and gauges.

    Log shipping and Prometheus keep the history, so a head published once stays on
    record even if the chain behind it is later rewritten and resealed.
    """
    head = audit_chain_head()
    if head is None:
        return None
    head_logger.info(
        "audit.head",
        seal_id=head.seal_id,
        event_id=head.event_id,
        hash=head.hash,
        count=head.count,
        head=head.token,
    )
    metrics.publish_head(seal_id=head.seal_id, count=head.count, hash_hex=head.hash)
    return head


@dataclass
class _Walk:
    """Checks links one after another, from genesis or from a verified checkpoint."""

    keys: dict[str, ChainKey]
    prev_hash: str = GENESIS_HASH
    count: int = 0
    keyed_seen: bool = False
    legacy: int = 0
    last_seal_id: int = 0

    def check(self, seal: AuditSeal) -> str | None:
        """Why ``seal`` does not extend the chain walked so far; None when it does."""
        if seal.prev_hash != self.prev_hash:
            return "link does not follow the previous one (a link is missing)"
        if seal.key_id == LEGACY_KEY_ID:
            if self.keyed_seen:
                # Unkeyed links are only the history from before the key; one after a
                # keyed link is someone resealing without the key.
                return "unkeyed link after the chain was keyed (link forged without the key)"
            expected = legacy_link_hash(self.prev_hash, seal.event)
        else:
            key = self.keys.get(seal.key_id)
            if key is None:
                return (
                    f"sealed with key {seal.key_id}, which is not in the keyring "
                    "(AUDIT_CHAIN_KEY, AUDIT_CHAIN_OLD_KEYS)"
                )
            if seal.position != self.count + 1:
                return (
                    f"link says position {seal.position}, the chain is at {self.count + 1} "
                    "(links removed or inserted)"
                )
            expected = link_hash(self.prev_hash, seal.event, key)
        if not hmac.compare_digest(expected, seal.hash):
            return "event row does not match its sealed hash (row altered)"
        self.prev_hash = seal.hash
        self.count += 1
        self.last_seal_id = seal.pk
        if seal.key_id == LEGACY_KEY_ID:
            self.legacy += 1
        else:
            self.keyed_seen = True
        return None


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    unsealed: int
    broken_event_id: int | None = None
    broken_seal_id: int | None = None
    reason: str = ""
    legacy: int = 0  # unkeyed links from before the key (a prefix of the chain)
    head: ChainHead | None = field(default=None, compare=False)


def _unsealed_count() -> int:
    return AuditEvent.objects.filter(seal__isnull=True).count()


def audit_chain_verify(
    *, chunk_size: int = 2000, keys: dict[str, ChainKey] | None = None
) -> ChainReport:
    """Walk the whole chain in seal order; report the first link that does not hold.

    Reads every row: for an operator's ``verify_audit_log`` and the tests. The admin
    index reads the checkpoint of ``audit_chain_verify_incremental`` instead.
    """
    walk = _Walk(keys=keyring() if keys is None else keys)
    seals = AuditSeal.objects.select_related("event").order_by("id")
    for seal in seals.iterator(chunk_size=chunk_size):
        reason = walk.check(seal)
        if reason is not None:
            return _broken(seal, walk.count, reason)
    return ChainReport(
        ok=True,
        checked=walk.count,
        unsealed=_unsealed_count(),
        legacy=walk.legacy,
        head=audit_chain_head(),
    )


def _broken(seal: AuditSeal, checked: int, reason: str) -> ChainReport:
    return ChainReport(
        ok=False,
        checked=checked,
        unsealed=_unsealed_count(),
        broken_event_id=seal.event_id,
        broken_seal_id=seal.pk,
        reason=reason,
    )


def audit_chain_head_missing(*, seal_id: int, hash_hex: str) -> str | None:
    """Why the chain no longer holds a head published as ``seal_id:hash_hex``; None if
    it does. Meaningful after ``audit_chain_verify`` passed: every link then holds, so a
    link with that id and hash is part of one unbroken chain."""
    seal = AuditSeal.objects.filter(pk=seal_id).only("hash").first()
    if seal is None:
        return f"published head seal #{seal_id} is no longer in the chain (its tail was removed)"
    if not hmac.compare_digest(seal.hash, hash_hex.lower()):
        return (
            f"seal #{seal_id} no longer has the published hash {hash_hex[:16]}… "
            "(the chain was rewritten and resealed at or before it)"
        )
    return None


def _locked_checkpoint() -> AuditChainCheckpoint:
    return chain_checkpoint_lock()


def _anchor_problem(
    checkpoint: AuditChainCheckpoint, keys: dict[str, ChainKey]
) -> tuple[AuditSeal | None, str] | None:
    """The last verified link must still be there as verified, or everything after it
    would be checked against a chain that no longer exists."""
    if checkpoint.verified_seal_id == 0:
        return None
    seal = AuditSeal.objects.select_related("event").filter(pk=checkpoint.verified_seal_id).first()
    if seal is None:
        return None, "the last verified link is gone (the chain was cut back)"
    if not hmac.compare_digest(seal.hash, checkpoint.verified_hash):
        return seal, "the last verified link changed since it was verified (chain rewritten)"
    # Re-check that one link: its row must still hash to it (a rewrite of the anchor's
    # row alone would otherwise go unseen by every later incremental run).
    walk = _Walk(keys=keys, prev_hash=seal.prev_hash, count=checkpoint.verified_count - 1)
    reason = walk.check(seal)
    return (seal, reason) if reason is not None else None


def audit_chain_verify_step(
    *, max_links: int = VERIFY_STEP_LINKS, keys: dict[str, ChainKey] | None = None
) -> tuple[AuditChainCheckpoint, bool]:
    """Check up to ``max_links`` links after the checkpoint and move it on.

    Returns the checkpoint and whether more links wait. A break is recorded (where and
    why) and the checkpoint stays at the last link that held; the next run checks again
    from there, so a repaired keyring clears it.
    """
    keys = keyring() if keys is None else keys
    with transaction.atomic():
        checkpoint = _locked_checkpoint()
        checkpoint.checked_at = timezone.now()
        problem = _anchor_problem(checkpoint, keys)
        if problem is not None:
            _record_break(checkpoint, *problem)
            return checkpoint, False
        walk = _Walk(
            keys=keys,
            prev_hash=checkpoint.verified_hash,
            count=checkpoint.verified_count,
            keyed_seen=checkpoint.keyed_seen,
            last_seal_id=checkpoint.verified_seal_id,
        )
        seals = list(
            AuditSeal.objects.select_related("event")
            .filter(id__gt=checkpoint.verified_seal_id)
            .order_by("id")[:max_links]
        )
        broken: tuple[AuditSeal, str] | None = None
        for seal in seals:
            problem_here = walk.check(seal)
            if problem_here is not None:
                broken = (seal, problem_here)
                break
        checkpoint.verified_seal_id = walk.last_seal_id
        checkpoint.verified_hash = walk.prev_hash
        checkpoint.verified_count = walk.count
        checkpoint.keyed_seen = walk.keyed_seen
        if broken is not None:
            _record_break(checkpoint, *broken)
            return checkpoint, False
        checkpoint.ok = True
        checkpoint.broken_seal_id = checkpoint.broken_event_id = None
        checkpoint.reason = ""
        checkpoint.save()
        return checkpoint, len(seals) == max_links


def _record_break(checkpoint: AuditChainCheckpoint, seal: AuditSeal | None, reason: str) -> None:
    checkpoint.ok = False
    checkpoint.broken_seal_id = seal.pk if seal is not None else checkpoint.verified_seal_id
    checkpoint.broken_event_id = seal.event_id if seal is not None else None
    checkpoint.reason = reason
    checkpoint.save()
    logger.error(
        "audit chain broken at seal #%s (event #%s): %s",
        checkpoint.broken_seal_id,
        checkpoint.broken_event_id,
        reason,
    )


def audit_chain_verify_incremental(
    *,
    step_links: int = VERIFY_STEP_LINKS,
    time_budget: float = VERIFY_TIME_BUDGET_SECONDS,
    keys: dict[str, ChainKey] | None = None,
) -> AuditChainCheckpoint:
    """Verify the links sealed since the last run (periodic task ``audit.verify_chain``).

    Each run costs the new links only, never the whole chain; a first run over a long
    chain spreads over several runs (``time_budget``), keeping its progress.
    """
    deadline = time.monotonic() + time_budget
    while True:
        checkpoint, more = audit_chain_verify_step(max_links=step_links, keys=keys)
        if not more or time.monotonic() >= deadline:
            break
    with transaction.atomic():
        checkpoint = _locked_checkpoint()
        checkpoint.unsealed = _unsealed_count()
        checkpoint.save(update_fields=["unsealed"])
    metrics.publish_verification(checkpoint)
    return checkpoint
