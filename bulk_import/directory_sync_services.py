"""Push new and changed hospitals to the external directory (optional, after an import).

The pending set is derived from the data (``DirectorySyncState`` versus the hospital's
``updated_at``), never held in memory or in a message: a run stopped by an open circuit,
exhausted retries or a killed worker loses nothing, and the next run continues.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import Hospital
from bulk_import.directory_client import (
    DirectoryClient,
    SyncRejected,
    SyncUnavailable,
    directory_client_from_settings,
)
from bulk_import.models import DirectorySyncState
from core.jobs import JobLease, job_execute, job_launch, job_release, job_succeed
from core.models import Job
from core.resilience import CircuitOpenError

SYNC_JOB_KIND = "directory_sync"
SYNC_TASK = "bulk_import.run_directory_sync"
SYNC_CHUNK = 200  # hospitals read per query
MAX_SYNC_ERRORS_IN_JOB = 1_000
MAX_ATTEMPTS_IN_JOB = 200  # the latest attempts (code, outcome, backoff), for diagnosis


def hospitals_pending_sync() -> QuerySet[Hospital]:
    return Hospital.objects.filter(
        Q(directory_sync__isnull=True) | Q(directory_sync__synced_version__lt=F("updated_at"))
    ).order_by("id")


def hospital_directory_payload(hospital: Hospital) -> dict[str, Any]:
    return {
        "code": hospital.code,
        "name": hospital.name,
        "address": hospital.address,
        "city": hospital.city,
        "region": hospital.region,
        "postal_code": hospital.postal_code,
        "country": str(hospital.country),
        "phone": hospital.phone,
    }


def directory_sync_start(*, reason: str) -> Job:
    """A system job, one per ``reason`` (e.g. the import job that changed hospitals)."""
    job, _ = job_launch(kind=SYNC_JOB_KIND, task_name=SYNC_TASK, idempotency_key=reason)
    return job


@dataclass
class SyncProgress:
    synced: int = 0
    rejected: int = 0
    pending: int = 0
    breaker_state: str = "closed"
    retry_in_seconds: float | None = None
    stopped_by: str = ""


def _mark(hospital: Hospital, *, rejected_reason: str = "") -> None:
    DirectorySyncState.objects.update_or_create(
        hospital=hospital,
        defaults={
            "synced_version": hospital.updated_at,
            "synced_at": timezone.now(),
            "rejected_reason": rejected_reason[:300],
        },
    )


def directory_sync_run(*, job_id: UUID | str, client: DirectoryClient | None = None) -> Job:
    """Worker side. Leaves the job running with ``retry_in_seconds`` when it must stop early
    (its lease released: the task's retry, or the jobs sweep, runs it again)."""

    def work(job: Job, lease: JobLease) -> Job:
        return _sync(job, lease, client or directory_client_from_settings())

    return job_execute(
        job_id=job_id, kind=SYNC_JOB_KIND, work=work, error_code="directory_sync_failed"
    )


def _sync(job: Job, lease: JobLease, client: DirectoryClient) -> Job:
    # Backoffs between retries of one hospital may outlast the lease: keep it while waiting.
    client.sleep = lease.sleep
    before = (job.result or {}).get("progress", {})
    progress = SyncProgress(
        synced=int(before.get("synced", 0)), rejected=int(before.get("rejected", 0))
    )
    errors: list[dict[str, Any]] = list(job.errors or [])
    try:
        _push_pending(client, progress, errors, lease)
    except (CircuitOpenError, SyncUnavailable) as exc:
        progress.stopped_by = type(exc).__name__
        progress.retry_in_seconds = max(getattr(exc, "retry_in", 0.0), 1.0)
    finally:
        client.close()
    progress.pending = hospitals_pending_sync().count()
    progress.breaker_state = str(client.breaker.state)
    earlier = list((job.result or {}).get("last_attempts", []))
    attempts = (earlier + [asdict(a) for a in client.attempts])[-MAX_ATTEMPTS_IN_JOB:]
    result = {"progress": asdict(progress), **asdict(progress), "last_attempts": attempts}
    if progress.retry_in_seconds is not None:
        return job_release(
            lease, resume_after=progress.retry_in_seconds, result=result, errors=errors
        )
    return job_succeed(job_id=job.id, result=result, errors=errors, lease=lease)


def _push_pending(
    client: DirectoryClient, progress: SyncProgress, errors: list[Any], lease: JobLease
) -> None:
    while chunk := list(hospitals_pending_sync()[:SYNC_CHUNK]):
        for hospital in chunk:
            lease.renew()
            try:
                client.put_hospital(hospital.code, hospital_directory_payload(hospital))
            except SyncRejected as exc:
                _mark(hospital, rejected_reason=str(exc))
                progress.rejected += 1
                if len(errors) < MAX_SYNC_ERRORS_IN_JOB:
                    errors.append({"code": hospital.code, "message": f"refused: {exc}"})
            else:
                _mark(hospital)
                progress.synced += 1
