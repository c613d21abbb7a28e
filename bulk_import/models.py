from __future__ import annotations

from django.db import models

from accounts.models import Hospital
from core.models import Job


class DirectorySyncState(models.Model):
    """What the external hospital directory last received for one hospital.

    A hospital is pending while it has no row here or changed after ``synced_version``
    (its ``updated_at`` when pushed): a sync that stops half-way (circuit open, worker
    killed) loses nothing, the next run picks up what is still pending.
    """

    hospital = models.OneToOneField(
        Hospital, primary_key=True, on_delete=models.CASCADE, related_name="directory_sync"
    )
    synced_version = models.DateTimeField(help_text="The hospital's updated_at when pushed.")
    synced_at = models.DateTimeField()
    rejected_reason = models.CharField(
        max_length=300, blank=True, help_text="Set when the directory refused this version."
    )

    def __str__(self) -> str:
        return f"Directory sync of hospital {self.hospital_id}"


class HospitalImportJob(Job):
    """The import jobs among all jobs, for their admin page (upload and progress)."""

    class Meta:
        proxy = True
        verbose_name = "hospital import"
        verbose_name_plural = "hospital imports"
