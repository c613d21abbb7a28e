"""Push new and changed hospitals to the external directory (optional, after an import).

The pending set is derived from the data (``DirectorySyncState`` versus the hospital's
``updated_at``), never held in memory or in a message: a run stopped by an open circuit,
exhausted retries or a killed worker loses nothing, and the next run continues.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import Hospital
from bulk_import.directory_sync import (
    DirectoryClient,
    SyncRejected,
    SyncUnavailable,
    directory_client_from_settings,
)
from bulk_import.models import DirectorySyncState
from core.jobs import job_get_or_create, job_start, job_succeed
from core.models import Job
from core.resilience import CircuitOpenError

SYNC_JOB_KIND = "directory_sync"
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
    job, created = job_get_or_create(kind=SYNC_JOB_KIND, idempotency_key=reason)
    if created:
        transaction.on_commit(lambda: _enqueue(job.id), robust=True)
    return job


def _enqueue(job_id: UUID) -> None:
    from bulk_import.tasks import run_directory_sync

    run_directory_sync.delay(str(job_id))


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
    """Worker side. Leaves the job running with ``retry_in_seconds`` when it must stop early."""
    job = Job.objects.get(id=job_id, kind=SYNC_JOB_KIND)
    if job.status in Job.FINISHED_STATUSES:
        return job
    job_start(job_id=job.id)
    client = client or directory_client_from_settings()
    before = (job.result or {}).get("progress", {})
    progress = SyncProgress(
        synced=int(before.get("synced", 0)), rejected=int(before.get("rejected", 0))
    )
    errors: list[dict[str, Any]] = list(job.errors or [])
    try:
        _push_pending(client, progress, errors)
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
        Job.objects.filter(id=job.id).update(result=result, errors=errors)
        job.refresh_from_db()
        return job
    return job_succeed(job_id=job.id, result=result, errors=errors)


def _push_pending(client: DirectoryClient, progress: SyncProgress, errors: list[Any]) -> None:
    while chunk := list(hospitals_pending_sync()[:SYNC_CHUNK]):
        for hospital in chunk:
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
