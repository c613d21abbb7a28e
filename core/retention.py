"""Retention: scheduled, batched deletion of what is only machinery (docs/retention.md).

Beat runs ``core.retention_purge`` every hour. It runs each registered purge in turn under
one time budget (``RETENTION_TIME_BUDGET_SECONDS``); each purge deletes in batches of
``RETENTION_BATCH_SIZE`` rows, one short transaction per batch, so a backlog of millions
never holds a long transaction or a long lock, and what the budget leaves is taken by the
next run. A row goes when its timestamp is strictly before ``now - age``: a row exactly
at the age stays until the next run.

What goes (the ages are settings):

* ``outbox_events``: delivered outbox events (and their per-subscriber delivery rows)
  delivered more than ``OUTBOX_RETENTION_DAYS`` ago. An undelivered event never goes,
  however old: the sweep still owes it to a subscriber.
* ``celery_results``: finished Celery task and group results (``django_celery_results``)
  done more than ``CELERY_RESULT_RETENTION_DAYS`` ago. (Celery's own unbatched
  ``celery.backend_cleanup`` is off: ``CELERY_RESULT_EXPIRES = None``.)
* ``job_files``: the file of a finished job (a report, an import's rejects) finished more
  than ``JOB_FILE_RETENTION_DAYS`` ago: removed from storage, the job keeps its row and
  result, and an audit row ``job.file_purged`` (system actor) records what went. A
  queued or running job's file is never touched.
* ``sessions``: Django sessions past their expiry date (what ``clearsessions`` does).
* Apps add their own machinery with :func:`retention_purge` in a ``retention.py``
  module, found on the first run (``notifications.retention``: finished webhook
  deliveries; ``bulk_import.retention``: uploads left by import jobs that ended;
  ``accounts.retention``: expired refresh tokens and their blacklist rows).

Expired Idempotency-Key records have their own beat task (``core.idempotency_purge``,
hourly), batched the same way.

What is never deleted here: audit rows (append-only, and a test checks that no purge
statement touches them), clinical records, appointments, slots, users, and notifications
(the record of what a person was told). ``docs/retention.md`` gives the reasons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from core.audit import audit_record
from core.metrics import RETENTION_DELETED
from core.models import Job, OutboxDelivery, OutboxEvent

logger = logging.getLogger(__name__)

Purge = Callable[["Batches", datetime], int]
_purges: dict[str, Purge] = {}
_discovered = False


class Batches:
    """One run's batch size and time budget, shared by every purge of the run."""

    def __init__(
        self,
        *,
        batch_size: int,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = batch_size
        self._clock = clock
        self._deadline = clock() + seconds
        self.exhausted = False

    def left(self) -> bool:
        if self._clock() >= self._deadline:
            self.exhausted = True
        return not self.exhausted

    def delete(
        self,
        select_ids: Callable[[int], Sequence[Any]],
        delete_ids: Callable[[Sequence[Any]], int],
    ) -> int:
        """Delete batch after batch, each in its own transaction, until a batch comes back
        short or the budget is spent; return the number of rows deleted."""
        total = 0
        while self.left():
            with transaction.atomic():
                ids = select_ids(self.batch_size)
                total += delete_ids(ids) if ids else 0
            if len(ids) < self.batch_size:
                break
        return total


def retention_purge(name: str) -> Callable[[Purge], Purge]:
    """Register ``func(batches, now) -> deleted`` as the purge ``name`` (apps' retention.py)."""

    def register(func: Purge) -> Purge:
        _purges[name] = func
        return func

    return register


def registered_purges() -> dict[str, Purge]:
    global _discovered
    if not _discovered:
        autodiscover_modules("retention")
        _discovered = True
    return dict(_purges)


def ids_of(queryset: QuerySet[Any]) -> Callable[[int], list[Any]]:
    """A batch selector: up to ``n`` primary keys of ``queryset`` (no ordering: cheapest)."""
    return lambda n: list(queryset.order_by().values_list("pk", flat=True)[:n])


def delete_rows(model: type[Model]) -> Callable[[Sequence[Any]], int]:
    """A batch deleter: one ``DELETE … WHERE pk IN (…)`` with no cascade collection (the
    caller deletes children first). Never used on audit tables (their triggers refuse)."""

    def delete(ids: Sequence[Any]) -> int:
        manager = model._base_manager
        return int(manager.filter(pk__in=ids)._raw_delete(manager.db))

    return delete


def retention_run(*, now: datetime | None = None, batches: Batches | None = None) -> dict[str, int]:
    """Run every purge once; return rows (or files) deleted per purge."""
    now = now or timezone.now()
    batches = batches or Batches(
        batch_size=settings.RETENTION_BATCH_SIZE, seconds=settings.RETENTION_TIME_BUDGET_SECONDS
    )
    deleted: dict[str, int] = {}
    for name, purge in sorted(registered_purges().items()):
        if not batches.left():
            logger.warning("retention: time budget spent before %s; next run continues", name)
            break
        deleted[name] = purge(batches, now)
        if deleted[name]:
            RETENTION_DELETED.labels(kind=name).inc(deleted[name])
    logger.info("retention run", extra={"deleted": deleted, "budget_spent": batches.exhausted})
    return deleted


def _days(setting: str) -> timedelta:
    return timedelta(days=float(getattr(settings, setting)))


# --- core's machinery --------------------------------------------------------------------


@retention_purge("outbox_events")
def outbox_events_purge(batches: Batches, now: datetime) -> int:
    """Delivered events (with their delivery rows) older than OUTBOX_RETENTION_DAYS."""
    done = OutboxEvent.objects.filter(
        delivered_at__isnull=False, delivered_at__lt=now - _days("OUTBOX_RETENTION_DAYS")
    )
    delete_events = delete_rows(OutboxEvent)

    def delete(ids: Sequence[Any]) -> int:
        OutboxDelivery.objects.filter(event_id__in=ids).delete()  # no children: one DELETE
        return delete_events(ids)

    return batches.delete(ids_of(done), delete)


@retention_purge("celery_results")
def celery_results_purge(batches: Batches, now: datetime) -> int:
    """Finished task and group results done more than CELERY_RESULT_RETENTION_DAYS ago."""
    from celery import states
    from django_celery_results.models import GroupResult, TaskResult

    cutoff = now - _days("CELERY_RESULT_RETENTION_DAYS")
    tasks = TaskResult.objects.filter(status__in=states.READY_STATES, date_done__lt=cutoff)
    groups = GroupResult.objects.filter(date_done__lt=cutoff)
    deleted = batches.delete(ids_of(tasks), delete_rows(TaskResult))
    return deleted + batches.delete(ids_of(groups), delete_rows(GroupResult))


@retention_purge("sessions")
def sessions_purge(batches: Batches, now: datetime) -> int:
    """Sessions past their expiry (Django's clearsessions, batched)."""
    return batches.delete(ids_of(Session.objects.filter(expire_date__lt=now)), delete_rows(Session))


JOB_FILE_BATCH = 100  # files are deleted one by one: a smaller batch keeps each short
# Set in a purged job's result (a dict): its download answers 404 job_file_gone.
FILE_PURGED_AT = "file_purged_at"


@retention_purge("job_files")
def job_files_purge(batches: Batches, now: datetime) -> int:
    """Files of jobs finished more than JOB_FILE_RETENTION_DAYS ago; queued and running
    jobs are never touched. The file goes first: a job whose row update then failed
    points at a missing file, which its download answers with 404 ``job_file_gone``, as
    it does for a job whose result records ``file_purged_at``."""
    expired = Job.objects.filter(
        status__in=Job.FINISHED_STATUSES,
        finished_at__lt=now - _days("JOB_FILE_RETENTION_DAYS"),
    ).exclude(file="")
    purged = 0
    while batches.left():
        jobs = list(expired.order_by("finished_at")[:JOB_FILE_BATCH])
        for job in jobs:
            _job_file_purge(job)
        purged += len(jobs)
        if len(jobs) < JOB_FILE_BATCH:
            break
    return purged


def _job_file_purge(job: Job) -> None:
    name = job.file.name
    job.file.storage.delete(name)
    result = job.result
    if isinstance(result, dict) or result is None:
        result = {**(result or {}), FILE_PURGED_AT: timezone.now().isoformat()}
    with transaction.atomic():
        Job.objects.filter(pk=job.pk, file=name).update(file="", result=result)
        audit_record(
            actor=None,
            action="job.file_purged",
            obj=job,
            metadata={
                "file": name,
                "finished_at": job.finished_at.isoformat() if job.finished_at else None,
                "retention_days": settings.JOB_FILE_RETENTION_DAYS,
            },
        )
