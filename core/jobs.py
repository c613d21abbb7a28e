"""Background job records: one model (``core.models.Job``) for all long or async work.

A request creates the job (``job_create`` / ``job_get_or_create``) and answers 202 with
its id; the Celery task moves it through ``job_start`` → ``job_progress`` →
``job_succeed`` / ``job_fail``. Clients poll ``GET /api/v1/jobs/{id}/``. Each write is
its own short transaction so a client sees progress while the work runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.audit import ObjectRef, object_ref, scrub
from core.errors import Conflict, InvalidRequest
from core.lock_objects import job_lock
from core.models import Job

Status = Job.Status


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
) -> tuple[Job, bool]:
    """The job for (requested_by, kind, idempotency_key), created if new.

    Without an idempotency key every call creates a job.
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


def job_succeed(
    *,
    job_id: UUID | str,
    result: dict[str, Any] | list[Any] | None = None,
    errors: list[Any] | None = None,
    file_name: str | None = None,
    file_content: bytes | None = None,
) -> Job:
    """running → succeeded with its result (and optional download file)."""
    with transaction.atomic():
        job = _lock_unfinished(job_id)
        job.status = Status.SUCCEEDED
        job.progress = 100
        job.result = scrub(result) if result is not None else None
        job.errors = scrub(errors or [])
        job.finished_at = timezone.now()
        job.started_at = job.started_at or job.finished_at
        if file_name is not None and file_content is not None:
            job.file.save(file_name, ContentFile(file_content), save=False)
        job.save()
    return job


def job_fail(*, job_id: UUID | str, errors: list[Any], result: dict[str, Any] | None = None) -> Job:
    """queued/running → failed with its errors (e.g. ``[{"row": 17, "field": ..., ...}]``)."""
    with transaction.atomic():
        job = _lock_unfinished(job_id)
        job.status = Status.FAILED
        job.errors = scrub(errors)
        job.result = scrub(result) if result is not None else job.result
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "errors", "result", "finished_at"])
    return job


def _lock_unfinished(job_id: UUID | str) -> Job:
    job = job_lock(job_id)
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
