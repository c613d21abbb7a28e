"""Retention of import uploads (``core.retention`` runs it; docs/retention.md).

An import deletes its uploaded CSV when it ends; a job that ended another way (its workers
lapsed ``JOB_MAX_LAPSES`` times, or the process died between the end and the delete)
leaves it in ``bulk_import/uploads/``. This purge deletes an upload whose job finished
more than ``JOB_FILE_RETENTION_DAYS`` ago, or that no job names and that is older than
that. The uploads of queued and running jobs stay. The directory holds only uploads of
jobs in flight and such leftovers, so listing it stays cheap.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage

from bulk_import.import_services import UPLOAD_DIR
from core.models import Job
from core.retention import Batches, retention_purge


@retention_purge("import_uploads")
def import_uploads_purge(batches: Batches, now: datetime) -> int:
    cutoff = now - timedelta(days=settings.JOB_FILE_RETENTION_DAYS)
    if not default_storage.exists(UPLOAD_DIR):
        return 0
    _, names = default_storage.listdir(UPLOAD_DIR)
    purged = 0
    for name in names:
        if not batches.left():
            break
        if _expired(name, cutoff):
            default_storage.delete(f"{UPLOAD_DIR}/{name}")
            purged += 1
    return purged


def _expired(name: str, cutoff: datetime) -> bool:
    path = f"{UPLOAD_DIR}/{name}"
    try:
        job_id = uuid.UUID(name.removesuffix(".csv"))
    except ValueError:
        job_id = None
    job = Job.objects.filter(pk=job_id).only("status", "finished_at").first() if job_id else None
    if job is None:
        return default_storage.get_modified_time(path) < cutoff
    return job.status in Job.FINISHED_STATUSES and (
        job.finished_at is not None and job.finished_at < cutoff
    )
