"""Background job records: one model (``core.models.Job``) for all long or async work.

A request launches the job (``job_launch``): the queued row and, after commit, a publish
of its Celery task. The row is the durable record: a publish lost to a broker outage or a
killed process is sent again by the sweep (``jobs_sweep_stalled``, beat). The worker
claims the job (``job_claim`` through ``job_execute``): queued → running with a lease that
it renews as it makes progress. A worker that dies stops renewing; the sweep sends the
task again and the next claim resumes the job from its checkpoint. Each claim takes a new
``attempt`` number, and every write of a claimed job is fenced by it, so a late worker
whose lease was taken over cannot write over the new one (``LeaseLost``).

Clients poll ``GET /api/v1/jobs/{id}/``. Each write is its own short transaction so a
client sees progress while the work runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.audit import ObjectRef, object_ref, scrub
from core.broker import send_task_fail_fast, send_task_soon
from core.errors import Conflict, InvalidRequest
from core.lock_objects import job_lock, jobs_lock_free
from core.models import Job

logger = logging.getLogger(__name__)

Status = Job.Status
SWEEP_BATCH_SIZE = 200
LEASE_LAPSED = "job_lease_lapsed"


class LeaseLost(Exception):
    """This worker's claim is no longer the job's latest: stop without writing anything."""


def job_create(
    *,
    kind: str,
    requested_by: Any = None,
    subject: ObjectRef = None,
    idempotency_key: str = "",
    celery_task_id: str = "",
) -> Job:
    """A new queued job; ``Conflict`` if (user, kind, idempotency_key) already has one."""
    job, created = job_get_or_create(
        kind=kind,
        requested_by=requested_by,
        subject=subject,
        idempotency_key=idempotency_key,
        celery_task_id=celery_task_id,
    )
    if not created:
        raise Conflict(
            "A job with this idempotency key already exists.",
            code="job_exists",
            details={"job_id": str(job.id)},
        )
    return job


def job_get_or_create(
    *,
    kind: str,
    requested_by: Any = None,
    subject: ObjectRef = None,
    idempotency_key: str = "",
    celery_task_id: str = "",
    task_name: str = "",
) -> tuple[Job, bool]:
    """The job for (requested_by, kind, idempotency_key), created if new.

    Without an idempotency key every call creates a job. ``task_name``: see ``job_launch``.
    """
    subject_type, subject_id = object_ref(subject)
    user = requested_by if getattr(requested_by, "is_authenticated", False) else None
    if idempotency_key:
        existing = _job_by_key(kind=kind, user=user, key=idempotency_key)
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            job = Job.objects.create(
                kind=kind,
                requested_by=user,
                subject_type=subject_type,
                subject_id=subject_id,
                idempotency_key=idempotency_key,
                celery_task_id=celery_task_id,
                task_name=task_name,
                dispatched_at=timezone.now() if task_name else None,
            )
    except IntegrityError:
        # A concurrent request with the same key won the insert.
        existing = _job_by_key(kind=kind, user=user, key=idempotency_key)
        if existing is None:
            raise
        return existing, False
    return job, True


def _job_by_key(*, kind: str, user: Any, key: str) -> Job | None:
    return Job.objects.filter(kind=kind, requested_by=user, idempotency_key=key).first()


def job_launch(
    *,
    kind: str,
    task_name: str,
    requested_by: Any = None,
    subject: ObjectRef = None,
    idempotency_key: str = "",
) -> tuple[Job, bool]:
    """Record a job that Celery task ``task_name(job_id)`` runs, and send it after commit.

    Call it inside the transaction that makes the job's other records. The request never
    waits for the broker and never fails because of it: the queued row is what counts,
    and the sweep sends the task again while the job stays queued.
    """
    job, created = job_get_or_create(
        kind=kind,
        requested_by=requested_by,
        subject=subject,
        idempotency_key=idempotency_key,
        task_name=task_name,
    )
    if created:
        job_id = str(job.id)
        transaction.on_commit(lambda: _dispatch(task_name, job_id), robust=True)
    return job, created


def _dispatch(task_name: str, job_id: str) -> None:
    app = current_app
    if app.conf.task_always_eager:
        # Eager mode (browser tests) runs the task here, as ``delay()`` would; send_task
        # would ignore it. Importing the task modules registers the task by its name.
        app.loader.import_default_modules()
        app.tasks[task_name].apply_async(args=(job_id,))
        return
    send_task_soon(task_name, (job_id,))


def job_set_task_id(*, job: Job, celery_task_id: str) -> Job:
    job.celery_task_id = celery_task_id
    job.save(update_fields=["celery_task_id"])
    return job


def job_start(*, job_id: UUID | str) -> Job:
    """queued → running. A redelivered task finding the job running again is allowed."""
    with transaction.atomic():
        job = job_lock(job_id)
        if job.status in Job.FINISHED_STATUSES:
            raise Conflict(
                f"Job {job.id} is already {job.status}.",
                code="job_finished",
                details={"status": job.status},
            )
        job.status = Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at"])
    return job


def job_progress(*, job_id: UUID | str, progress: int) -> None:
    """Record progress (0-100) of a running job; never moves backwards."""
    if not 0 <= progress <= 100:
        raise InvalidRequest("Progress is a percentage (0-100).", code="invalid_progress")
    Job.objects.filter(id=job_id, status=Status.RUNNING, progress__lt=progress).update(
        progress=progress
    )


# --- claims and leases (worker side of a launched job) -----------------------------


def lease_seconds() -> float:
    return float(settings.JOB_LEASE_SECONDS)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


@dataclass
class JobLease:
    """One worker's claim on a job: renew it as the work moves, write through it."""

    job_id: UUID
    attempt: int
    owner: str
    renewed_at: float = field(default_factory=time.monotonic)

    def fenced(self) -> QuerySet[Job]:
        """The job, only while it runs under this claim (a takeover makes it empty)."""
        return Job.objects.filter(id=self.job_id, status=Status.RUNNING, attempt=self.attempt)

    def update(self, **fields: Any) -> None:
        """Write ``fields`` and renew the lease in one statement; ``LeaseLost`` if taken over.

        Inside a transaction (an import batch) the rows it commits with are rolled back
        with it, so a late worker never commits work over its successor's.
        """
        expires = timezone.now() + timedelta(seconds=lease_seconds())
        if not self.fenced().update(lease_expires_at=expires, **fields):
            raise LeaseLost(f"job {self.job_id}: attempt {self.attempt} is no longer its claim")
        self.renewed_at = time.monotonic()

    def renew(self, *, force: bool = False) -> None:
        """Renew the lease if a third of it has gone by (cheap to call per row or batch)."""
        if force or time.monotonic() - self.renewed_at >= lease_seconds() / 3:
            self.update()

    def sleep(self, seconds: float) -> None:
        """Sleep (a backoff) while keeping the lease."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, lease_seconds() / 3))
            self.renew()


def job_claim(*, job_id: UUID | str, kind: str) -> JobLease | None:
    """queued → running under a new lease, or resume a job whose lease lapsed.

    None when this worker must not run it: finished, or running under a live lease
    (another worker has it). A job whose workers stopped ``JOB_MAX_LAPSES`` times
    without finishing (killed, OOM, lost) ends failed instead of being claimed again.
    """
    now = timezone.now()
    with transaction.atomic():
        job = job_lock(job_id, kind=kind)
        if job.status in Job.FINISHED_STATUSES:
            return None
        if job.status == Status.RUNNING and job.lease_owner:
            if job.lease_expires_at is not None and job.lease_expires_at > now:
                return None
            job.lapses += 1
            logger.warning(
                "job %s (%s): the lease of attempt %s (%s) lapsed; resuming it",
                job.id, job.kind, job.attempt, job.lease_owner,
            )  # fmt: skip
            if job.lapses >= settings.JOB_MAX_LAPSES:
                _finish_failed(
                    job,
                    errors=[
                        {
                            "code": LEASE_LAPSED,
                            "message": f"The job's worker stopped {job.lapses} times "
                            "before it finished (killed, out of memory or lost).",
                        }
                    ],
                )
                return None
        job.status = Status.RUNNING
        job.attempt += 1
        job.lease_owner = _worker_name()
        job.lease_expires_at = now + timedelta(seconds=lease_seconds())
        job.started_at = job.started_at or now
        job.save(
            update_fields=[
                "status", "attempt", "lapses", "lease_owner", "lease_expires_at", "started_at",
            ]
        )  # fmt: skip
    return JobLease(job_id=job.id, attempt=job.attempt, owner=job.lease_owner)


def job_release(
    lease: JobLease, *, resume_after: float, result: Any = None, errors: list[Any] | None = None
) -> Job:
    """Stop for now without finishing (e.g. a circuit open): any message may claim the job
    again, and the sweep sends its task again ``resume_after`` seconds from now."""
    resume_at = timezone.now() + timedelta(seconds=resume_after)
    fields: dict[str, Any] = {"lease_owner": "", "lease_expires_at": resume_at}
    fields["dispatched_at"] = resume_at  # the caller's retry message is due then
    if result is not None:
        fields["result"] = scrub(result)
    if errors is not None:
        fields["errors"] = scrub(errors)
    if not lease.fenced().update(**fields):
        raise LeaseLost(f"job {lease.job_id}: attempt {lease.attempt} is no longer its claim")
    return Job.objects.get(id=lease.job_id)


def job_execute(
    *,
    job_id: UUID | str,
    kind: str,
    work: Callable[[Job, JobLease], Job],
    error_code: str,
) -> Job:
    """Worker side of a launched job: claim it, run ``work``, record an unexpected failure.

    Redelivered and re-sent messages are harmless: a finished job, or one another worker
    holds, is returned as it is. An exception fails the job with ``error_code`` (then
    propagates, for the task's log); a database outage leaves it to be resumed instead.
    """
    lease = job_claim(job_id=job_id, kind=kind)
    if lease is None:
        return Job.objects.get(id=job_id)
    try:
        job = Job.objects.select_related("requested_by").get(id=job_id)
        return work(job, lease)
    except LeaseLost:
        logger.warning("job %s: taken over by a newer attempt; this one stops", job_id)
        return Job.objects.get(id=job_id)
    except (OperationalError, InterfaceError):
        # The database went away: nothing can be recorded now. Give the lease back if it
        # can be; otherwise it lapses. Either way the sweep resumes the job later.
        with contextlib.suppress(DatabaseError, LeaseLost):
            job_release(lease, resume_after=0)
        raise
    except Exception as exc:
        logger.exception("job %s (%s) failed", job_id, kind)
        with contextlib.suppress(LeaseLost, Conflict):
            message = f"The job stopped on an unexpected error ({type(exc).__name__})."
            job_fail(job_id=job_id, errors=[{"code": error_code, "message": message}], lease=lease)
        raise


def jobs_sweep_stalled(*, batch_size: int = SWEEP_BATCH_SIZE) -> int:
    """Send again the task of every job left behind; returns how many were sent.

    Left behind: still queued (its publish was lost, or the queue is slow), or running
    under a lease that lapsed (its worker died), and not sent for
    ``JOB_REQUEUE_AFTER_SECONDS``. Re-sending is safe: the claim decides who runs.
    """
    now = timezone.now()
    stalled = Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lte=now)
    not_recently = Q(dispatched_at__isnull=True) | Q(
        dispatched_at__lte=now - timedelta(seconds=settings.JOB_REQUEUE_AFTER_SECONDS)
    )
    with transaction.atomic():
        # skip_locked: a row locked by a batch being committed belongs to a live worker.
        rows = list(
            jobs_lock_free(Job.objects.filter(stalled, not_recently))
            .exclude(task_name="")
            .order_by("dispatched_at")
            .values_list("id", "task_name", "status")[:batch_size]
        )
        Job.objects.filter(id__in=[job_id for job_id, _, _ in rows]).update(dispatched_at=now)
    for job_id, task_name, status in rows:
        # A running job here lost its worker; a queued one lost its publish or waits in
        # a long queue (the extra message is dropped by the claim).
        log = logger.warning if status == Status.RUNNING else logger.info
        log("job %s (%s): task %s sent again by the sweep", job_id, status, task_name)
        send_task_fail_fast(task_name, (str(job_id),))
    return len(rows)


def job_succeed(
    *,
    job_id: UUID | str,
    result: dict[str, Any] | list[Any] | None = None,
    errors: list[Any] | None = None,
    file_name: str | None = None,
    file_content: bytes | None = None,
    lease: JobLease | None = None,
) -> Job:
    """running → succeeded with its result (and optional download file).

    With ``lease``, only while that claim is the job's latest (else ``LeaseLost``).
    """
    with transaction.atomic():
        job = _lock_unfinished(job_id, lease)
        job.status = Status.SUCCEEDED
        job.progress = 100
        job.result = scrub(result) if result is not None else None
        job.errors = scrub(errors or [])
        job.finished_at = timezone.now()
        job.started_at = job.started_at or job.finished_at
        job.lease_owner, job.lease_expires_at = "", None
        if file_name is not None and file_content is not None:
            job.file.save(file_name, ContentFile(file_content), save=False)
        job.save()
    return job


def job_fail(
    *,
    job_id: UUID | str,
    errors: list[Any],
    result: dict[str, Any] | None = None,
    lease: JobLease | None = None,
) -> Job:
    """queued/running → failed with its errors (e.g. ``[{"row": 17, "field": ..., ...}]``).

    With ``lease``, only while that claim is the job's latest (else ``LeaseLost``).
    """
    with transaction.atomic():
        job = _lock_unfinished(job_id, lease)
        _finish_failed(job, errors=errors, result=result)
    return job


def _finish_failed(job: Job, *, errors: list[Any], result: dict[str, Any] | None = None) -> None:
    job.status = Status.FAILED
    job.errors = scrub(errors)
    job.result = scrub(result) if result is not None else job.result
    job.finished_at = timezone.now()
    job.lease_owner, job.lease_expires_at = "", None
    job.save(
        update_fields=[
            "status", "errors", "result", "finished_at", "lapses", "lease_owner",
            "lease_expires_at",
        ]
    )  # fmt: skip


def _lock_unfinished(job_id: UUID | str, lease: JobLease | None = None) -> Job:
    job = job_lock(job_id)
    if lease is not None and (job.attempt != lease.attempt or job.status != Status.RUNNING):
        raise LeaseLost(f"job {job.id}: attempt {lease.attempt} is no longer its claim")
    if job.status in Job.FINISHED_STATUSES:
        raise Conflict(
            f"Job {job.id} is already {job.status}.",
            code="job_finished",
            details={"status": job.status},
        )
    return job


# --- selectors -------------------------------------------------------------------


def jobs_visible_to(user: Any) -> QuerySet[Job]:
    """Staff see every job; anyone else only the jobs they asked for."""
    if not getattr(user, "is_authenticated", False):
        return Job.objects.none()
    if getattr(user, "role", None) == "staff":
        return Job.objects.all()
    return Job.objects.filter(requested_by=user)


def jobs_for_subject(*, subject: ObjectRef) -> QuerySet[Job]:
    subject_type, subject_id = object_ref(subject)
    return Job.objects.filter(subject_type=subject_type, subject_id=subject_id).order_by(
        "created_at"
    )


def job_run(
    *,
    kind: str,
    work: Callable[[Job], dict[str, Any]],
    requested_by: Any = None,
    subject: ObjectRef = None,
    idempotency_key: str = "",
) -> Job:
    """Record ``work`` as a job and run it now (worker side): queued → running → done.

    With an idempotency key a finished job is returned as is, so a redelivered task or
    event does the work once. A failure is recorded on the job and re-raised.
    """
    job, _ = job_get_or_create(
        kind=kind, requested_by=requested_by, subject=subject, idempotency_key=idempotency_key
    )
    if job.status in Job.FINISHED_STATUSES:
        return job
    job_start(job_id=job.id)
    try:
        result = work(job)
    except Exception as exc:
        job_fail(job_id=job.id, errors=[{"code": type(exc).__name__, "message": str(exc)}])
        raise
    return job_succeed(job_id=job.id, result=result)
