"""Output shapes every app's API shares: a job record (``GET jobs/{id}/`` and the job
lists of a domain object, such as an appointment's background tasks)."""

from __future__ import annotations

from rest_framework import serializers

from core.models import Job


class JobOutput(serializers.ModelSerializer[Job]):
    subject = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "result",
            "errors",
            "subject",
            "download_url",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_subject(self, job: Job) -> dict[str, str] | None:
        if not job.subject_type:
            return None
        return {"type": job.subject_type, "id": job.subject_id}

    def get_download_url(self, job: Job) -> str | None:
        if not job.file:
            return None
        return f"/api/v1/jobs/{job.id}/download/"
