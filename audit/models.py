"""The audit trail (SPEC invariant 5): append-only rows, sealed into a hash chain.

Rows are inserted *unsealed* by ``core.audit.audit_record`` inside the caller's
transaction, so writing one takes no global lock. ``AuditSeal`` links are appended
later, one per event, in seal order, by a single sealer at a time
(``audit.services.audit_seal_pending``). Both tables refuse UPDATE and DELETE at the
database level (migration 0002, PostgreSQL).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    # Plain ids, not foreign keys: the trail must outlive the users and objects it names.
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=100, db_index=True, help_text='e.g. "appointment.book"')
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            # The admin's exact search and its actor-role filter (issue #19).
            models.Index(fields=["object_id"], name="audit_event_object_id_idx"),
            models.Index(fields=["request_id"], name="audit_event_request_id_idx"),
            models.Index(fields=["actor_role"], name="audit_event_actor_role_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type}:{self.object_id}"


class AuditSeal(models.Model):
    """One link of the hash chain: ``hash = HMAC-SHA256(key, prev_hash + canonical JSON of
    event)``, the key named by ``key_id`` (``audit.keys``).

    The chain runs in this table's id order (seal order), not in event id order, so
    events committed out of id order are simply sealed later. Links sealed before the
    chain was keyed have ``key_id == ""`` (plain sha256) and no ``position``; they are
    accepted only before the first keyed link (``audit.services``).
    """

    event = models.OneToOneField(AuditEvent, on_delete=models.PROTECT, related_name="seal")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    sealed_at = models.DateTimeField(default=timezone.now)
    key_id = models.CharField(max_length=16, blank=True, default="")
    # 1-based place in the chain, so the published head can say how long the chain is
    # without counting the table.
    position = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"seal #{self.pk} of event #{self.event_id}"


class AuditChainCheckpoint(models.Model):
    """How far the periodic verification has checked the chain, and what it found.

    One row (pk 1), written by ``audit.verify_chain``; the admin index reads it instead of
    walking the chain. Derived state, not evidence: ``verify_audit_log`` walks the whole
    chain and checks a published head.
    """

    SINGLETON_PK = 1

    # The last link found intact; the next run resumes after it.
    verified_seal_id = models.BigIntegerField(default=0)
    verified_hash = models.CharField(max_length=64, default="0" * 64)
    verified_count = models.BigIntegerField(default=0)
    keyed_seen = models.BooleanField(default=False)
    ok = models.BooleanField(default=True)
    broken_seal_id = models.BigIntegerField(null=True, blank=True)
    broken_event_id = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    unsealed = models.BigIntegerField(default=0)
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        state = "intact" if self.ok else f"broken at seal #{self.broken_seal_id}"
        return f"audit chain {state} up to seal #{self.verified_seal_id}"
