"""Outbox subscribers of the bulk import."""

from __future__ import annotations

from django.conf import settings

from bulk_import.directory_sync_services import directory_sync_start
from core.models import OutboxEvent
from core.outbox import subscriber


@subscriber("import.completed", name="bulk_import.directory_sync")
def sync_directory_after_import(event: OutboxEvent) -> None:
    """Push what the import created or changed, when a directory is configured."""
    if not settings.DIRECTORY_SYNC_URL:
        return
    if not (event.payload.get("created") or event.payload.get("updated")):
        return
    directory_sync_start(reason=f"import:{event.payload['job_id']}")
