"""Celery tasks of the core mechanisms: outbox delivery, and the periodic sweeps (beat)."""

from __future__ import annotations

from celery import Task, shared_task
from django.db import OperationalError

from core.idempotency import idempotency_purge_expired
from core.jobs import jobs_sweep_stalled
from core.outbox import OutboxDeliveryFailed, outbox_event_deliver, outbox_sweep_pending
from core.retention import retention_run


@shared_task(
    bind=True,
    name="core.outbox_deliver",
    acks_late=True,
    autoretry_for=(OutboxDeliveryFailed, OperationalError),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def outbox_deliver(self: Task, event_ids: str | list[str]) -> bool:
    """Deliver outbox events: one id, or the list a process's window gathered
    (``core.outbox``). Every event is tried; if one failed the task retries the list, and
    redelivery is harmless (one delivery row per subscriber; a delivered event is skipped)."""
    failed: list[OutboxDeliveryFailed] = []
    for event_id in [event_ids] if isinstance(event_ids, str) else event_ids:
        try:
            outbox_event_deliver(event_id=event_id)
        except OutboxDeliveryFailed as exc:
            failed.append(exc)
    if failed:
        raise OutboxDeliveryFailed("; ".join(str(exc) for exc in failed))
    return True


@shared_task(name="core.outbox_sweep", acks_late=True)
def outbox_sweep() -> int:
    """Periodic (beat): deliver events left behind while the broker or a worker was down."""
    return outbox_sweep_pending()


@shared_task(name="core.jobs_sweep", acks_late=True)
def jobs_sweep() -> int:
    """Periodic (beat): send again jobs left queued, and jobs whose worker's lease lapsed."""
    return jobs_sweep_stalled()


@shared_task(name="core.idempotency_purge", acks_late=True)
def idempotency_purge() -> int:
    """Periodic (beat): delete expired Idempotency-Key records, a batch at a time."""
    return idempotency_purge_expired()


@shared_task(name="core.retention_purge", acks_late=True)
def retention_purge() -> dict[str, int]:
    """Periodic (beat): delete old machinery rows and files in batches (core.retention)."""
    return retention_run()
