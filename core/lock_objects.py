"""Every row lock of core (jobs, outbox) is taken here, one row at a time."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from core.models import Job, OutboxEvent


def job_lock(job_id: UUID | str, *, kind: str | None = None) -> Job:
    """Lock one job (of ``kind``, when given: another kind is ``Job.DoesNotExist``)."""
    rows = Job.objects.select_for_update()
    return rows.get(id=job_id) if kind is None else rows.get(id=job_id, kind=kind)


def jobs_lock_free(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """``jobs`` locked, skipping rows another transaction holds (a live worker's)."""
    return jobs.select_for_update(skip_locked=True)


def outbox_event_lock(event_id: UUID | str) -> OutboxEvent | None:
    """Lock an event row: concurrent deliveries of it wait for each other."""
    return OutboxEvent.objects.select_for_update().filter(id=event_id).first()
