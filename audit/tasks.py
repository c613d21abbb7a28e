"""Audit sealing in the worker: after each commit that wrote audit rows, and on beat."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from audit.services import audit_seal_pending


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
    """
    total = 0
    while sealed := audit_seal_pending(full=full):
        total += sealed
    return total
