"""Celery tasks of the bulk import: take ids, call a service; retries declared here."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from bulk_import.services import hospital_import_fail, hospital_import_run
from bulk_import.sync_services import directory_sync_run
from core.jobs import job_fail
from core.resilience import backoff_delay

logger = logging.getLogger(__name__)

IMPORT_MAX_RETRIES = 5


@shared_task(
    bind=True,
    name="bulk_import.run_hospital_import",
    # Acknowledged only when done: a killed worker's message is delivered again, and the
    # run resumes from the checkpoint its last committed batch left in the job.
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=IMPORT_MAX_RETRIES,
    soft_time_limit=55 * 60,
    time_limit=60 * 60,
)
def run_hospital_import(self: Task, job_id: str) -> str:
    try:
        job = hospital_import_run(job_id=job_id)
    except (OperationalError, InterfaceError) as exc:  # database away: try again later
        if self.request.retries >= IMPORT_MAX_RETRIES:
            hospital_import_fail(job_id=job_id, message=f"Database unavailable: {exc}")
            raise
        delay = backoff_delay(self.request.retries, base=5, cap=300)
        raise self.retry(exc=exc, countdown=delay) from exc
    except Exception as exc:
        logger.exception("hospital import %s failed", job_id)
        hospital_import_fail(job_id=job_id, message=f"{type(exc).__name__}: {exc}")
        raise
    return str(job.status)


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
    if job.status == job.Status.RUNNING and retry_in is not None:
        if self.request.retries >= SYNC_MAX_RETRIES:
            job_fail(job_id=job_id, errors=[{"code": "directory_unavailable"}])
            return "failed"
        # Come back when the breaker lets a probe through; pending hospitals are kept.
        raise self.retry(countdown=float(retry_in))
    return str(job.status)
