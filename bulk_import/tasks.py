"""Celery tasks of the bulk import: take ids, call a service; retries declared here."""

from __future__ import annotations

from celery import Task, shared_task

from bulk_import.directory_sync_services import directory_sync_run
from bulk_import.import_services import hospital_import_run
from core.jobs import job_fail


@shared_task(
    name="bulk_import.run_hospital_import",
    # A killed worker's message stays unacknowledged until the broker's visibility timeout
    # (hours): the job does not wait for it. Its lease lapses, the jobs sweep sends the
    # task again, and the next claim resumes from the last committed batch's checkpoint.
    # An unexpected error fails the job (import_failed); a database outage leaves it to
    # the sweep as well (core.jobs.job_execute).
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=55 * 60,
    time_limit=60 * 60,
)
def run_hospital_import(job_id: str) -> str:
    return str(hospital_import_run(job_id=job_id).status)


SYNC_MAX_RETRIES = 200  # at one cool-down each: hours of an unavailable directory


@shared_task(
    bind=True,
    name="bulk_import.run_directory_sync",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=SYNC_MAX_RETRIES,
)
def run_directory_sync(self: Task, job_id: str) -> str:
    job = directory_sync_run(job_id=job_id)
    retry_in = (job.result or {}).get("retry_in_seconds")
    # Released (no lease owner): this run stopped early and asks to be run again. If this
    # retry is lost with the broker, the jobs sweep sends the task once it is due.
    if job.status == job.Status.RUNNING and not job.lease_owner and retry_in is not None:
        if self.request.retries >= SYNC_MAX_RETRIES:
            job_fail(job_id=job_id, errors=[{"code": "directory_unavailable"}])
            return "failed"
        # Come back when the breaker lets a probe through; pending hospitals are kept.
        raise self.retry(countdown=float(retry_in))
    return str(job.status)
