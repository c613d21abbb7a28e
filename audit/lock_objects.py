"""Every row lock of audit is taken here."""

from __future__ import annotations

from audit.models import AuditChainCheckpoint


def chain_checkpoint_lock() -> AuditChainCheckpoint:
    """The one checkpoint row of the periodic chain verification, created if missing."""
    checkpoint, _ = AuditChainCheckpoint.objects.select_for_update().get_or_create(
        pk=AuditChainCheckpoint.SINGLETON_PK
    )
    return checkpoint
