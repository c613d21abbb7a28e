"""Audit sealing and verification in the worker: sealing after each commit that wrote
audit rows and on beat; verification of the new links on beat."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from audit.services import audit_chain_verify_incremental, audit_head_publish, audit_seal_pending


@shared_task(
    name="audit.seal",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def audit_seal(full: bool = False) -> int:
    """Seal unsealed audit rows (in batches); returns how many were sealed.

    After a commit: the recent window only. On beat: ``full=True`` catches anything else.
    The head is published after every run that sealed something, and on every beat run
    (so a quiet chain still shows its head regularly).
    """
    total = 0
    while sealed := audit_seal_pending(full=full):
        total += sealed
    if total or full:
        audit_head_publish()
    return total


@shared_task(
    name="audit.verify_chain",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def audit_verify_chain() -> bool:
    """Verify the links sealed since the last run; returns whether the chain holds."""
    return audit_chain_verify_incremental().ok
