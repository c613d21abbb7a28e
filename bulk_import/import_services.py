"""Writes of the bulk hospital import: accept an upload as a job, run it, record the outcome.

``hospital_import_start`` runs in the request (or the admin view): it checks the header,
stores the file under MEDIA_ROOT chunk by chunk, and launches the job (core.jobs: the
task is sent after commit, and again by the jobs sweep while the job stays queued).
``hospital_import_run`` runs in the Celery worker under the job's lease and may run more
than once for one job (its worker killed: the sweep sends the task again once the lease
lapses): it resumes from the checkpoint that every batch commits together with its rows.
Each checkpoint is written through the claim (``JobLease.update``), so a batch of a
worker whose claim was taken over rolls back instead of committing twice.
"""

from __future__ import annotations

import codecs
import logging
import tempfile
from typing import IO, Any
from uuid import UUID

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.functions import Greatest

from bulk_import.csv_source import CsvFormatError, read_header
from bulk_import.importer import Checkpoint, HospitalImport, ImportSummary, RejectSink
from core.audit import audit_record
from core.errors import DomainError, InvalidRequest
from core.jobs import JobLease, job_execute, job_fail, job_launch, job_succeed
from core.models import Job
from core.outbox import event_publish

logger = logging.getLogger(__name__)

IMPORT_JOB_KIND = "hospital_import"
IMPORT_TASK = "bulk_import.run_hospital_import"
UPLOAD_DIR = "bulk_import/uploads"


class UploadTooLarge(DomainError):
    status = 413
    code = "upload_too_large"


def upload_name(job_id: UUID | str) -> str:
    """Where the worker finds a job's CSV in default storage (MEDIA_ROOT)."""
    return f"{UPLOAD_DIR}/{job_id}.csv"


def max_upload_bytes() -> int:
    return int(settings.BULK_IMPORT_MAX_UPLOAD_BYTES)


def check_upload_size(size: int | None) -> None:
    limit = max_upload_bytes()
    if size is not None and size > limit:
        raise UploadTooLarge(
            f"The file is larger than the limit of {limit} bytes.",
            details={"max_bytes": limit, "size": size},
        )


def check_csv_upload(upload: File[Any]) -> None:
    """Header, emptiness, text and UTF-8 checks that answer 400 before a job exists."""
    check_upload_size(upload.size)
    if not upload.size:
        raise InvalidRequest("The file is empty.", code="csv_empty")
    upload.seek(0)
    try:
        read_header(upload)
        upload.seek(0)
        _check_utf8(upload)
    except CsvFormatError as exc:
        raise InvalidRequest(exc.message, code=exc.code, details=exc.details) from exc
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"The file is not UTF-8 text (byte {exc.start} of a chunk cannot be decoded).",
            code="csv_not_utf8",
        ) from exc
    finally:
        upload.seek(0)


def _check_utf8(upload: File[Any]) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    for chunk in upload.chunks():
        if b"\x00" in chunk:
            raise CsvFormatError("The file is not a text CSV file.", code="csv_not_text")
        decoder.decode(chunk)
    decoder.decode(b"", final=True)


def hospital_import_start(*, user: Any, upload: File[Any]) -> Job:
    """Check ``upload``, store it, create the import job and queue it after commit."""
    check_csv_upload(upload)
    stored: str | None = None
    try:
        with transaction.atomic(durable=True):
            job, _ = job_launch(kind=IMPORT_JOB_KIND, task_name=IMPORT_TASK, requested_by=user)
            stored = default_storage.save(upload_name(job.id), upload)  # streamed in chunks
            if stored != upload_name(job.id):  # a new uuid never collides; be sure anyway
                raise RuntimeError(f"Upload stored as {stored}, not {upload_name(job.id)}")
            audit_record(
                actor=user,
                action="hospital_import.start",
                obj=job,
                metadata={"file_name": str(getattr(upload, "name", "")), "bytes": upload.size},
            )
    except BaseException:
        if stored is not None:  # a rolled-back start must not leave its file behind
            default_storage.delete(stored)
        raise
    return job


def _record_checkpoint(lease: JobLease, checkpoint: Checkpoint, percent: int) -> None:
    # Inside the batch's transaction: the rows and the checkpoint commit or vanish together,
    # and only under the latest claim (LeaseLost rolls the batch back). Renews the lease.
    lease.update(
        progress=Greatest("progress", percent),
        result={"checkpoint": checkpoint.as_dict()},
    )


def hospital_import_run(*, job_id: UUID | str) -> Job:
    """Worker side: import the job's file, resuming after a crash; idempotent when finished.

    One worker at a time: the claim's lease (core.jobs) rather than a database lock, so a
    worker on a lost machine, whose connection may linger for hours, holds nothing up.
    """
    return job_execute(job_id=job_id, kind=IMPORT_JOB_KIND, work=_run, error_code="import_failed")


def _run(job: Job, lease: JobLease) -> Job:
    resume_from = Checkpoint.from_dict((job.result or {}).get("checkpoint"))
    name = upload_name(job.id)
    with (
        default_storage.open(name, "rb") as raw,
        tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as rejects_file,
    ):
        rejects = RejectSink(rejects_file)
        try:
            summary = HospitalImport(
                raw,
                total_bytes=default_storage.size(name),
                rejects=rejects,
                resume_from=resume_from,
                on_batch=lambda checkpoint, percent: _record_checkpoint(lease, checkpoint, percent),
                # Batches below the checkpoint are re-read, not written: keep the lease.
                heartbeat=lease.renew,
            ).run()
        except (CsvFormatError, UnicodeDecodeError) as exc:
            return _fail_unreadable(job, exc, lease)
        rejects_file.flush()
        rejects_file.seek(0)
        job = _succeed(job, summary, rejects, rejects_file, lease)
    default_storage.delete(name)
    return job


def _fail_unreadable(job: Job, exc: Exception, lease: JobLease) -> Job:
    code = exc.code if isinstance(exc, CsvFormatError) else "csv_not_utf8"
    failed = job_fail(job_id=job.id, errors=[{"code": code, "message": str(exc)}], lease=lease)
    default_storage.delete(upload_name(job.id))
    return failed


def _succeed(
    job: Job, summary: ImportSummary, rejects: RejectSink, rejects_file: IO[str], lease: JobLease
) -> Job:
    result: dict[str, Any] = {
        **summary.as_dict(),
        "rejects_listed": len(rejects.first),
        "message": _summary_message(summary),
    }
    with transaction.atomic(durable=True):
        done = job_succeed(job_id=job.id, result=result, errors=rejects.first, lease=lease)
        done.file.save(f"rejects-{job.id}.csv", File(rejects_file), save=False)
        Job.objects.filter(id=job.id).update(file=done.file.name)
        audit_record(actor=None, action="hospital_import.complete", obj=done, metadata=result)
        event_publish(
            name="import.completed",
            payload={"job_id": str(job.id), **summary.as_dict()},
            aggregate=("core.job", str(job.id)),
        )
    return done


def _summary_message(summary: ImportSummary) -> str:
    if summary.created == summary.updated == 0:
        changed = "No hospital changed"
    else:
        changed = f"{summary.created} hospitals created, {summary.updated} updated"
    return (
        f"{changed}; {summary.unchanged} unchanged, {summary.rejected} rows rejected "
        f"of {summary.rows} rows."
    )
