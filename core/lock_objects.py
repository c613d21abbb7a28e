"""Every row lock of core (jobs, outbox) is taken here, one row at a time."""

from __future__ import annotations

from uuid import UUID

from core.models import Job, OutboxEvent


def job_lock(job_id: UUID | str) -> Job:
    return Job.objects.select_for_update().get(id=job_id)


def outbox_event_lock(event_id: UUID | str) -> OutboxEvent | None:
    """Lock an event row: concurrent deliveries of it wait for each other."""
    return OutboxEvent.objects.select_for_update().filter(id=event_id).first()
