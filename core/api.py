"""Job polling: ``GET jobs/{id}/`` and ``GET jobs/{id}/download/`` (owner or staff)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.jobs import jobs_visible_to
from core.models import Job
from core.read_audit import Read, ReadSurface, audit_read
from core.retention import FILE_PURGED_AT
from core.serializers import JobOutput


def visible_job(request: Request, job_id: UUID) -> Job:
    job = jobs_visible_to(request.user).filter(id=job_id).first()
    if job is None:
        raise NotFound("No such job.", code="job_not_found")
    return job


NOT_FOUND = OpenApiResponse(description="No such job, or not yours to see (error envelope).")


class JobDetailApi(APIView):
    @extend_schema(operation_id="jobs_retrieve", responses={200: JobOutput, 404: NOT_FOUND})
    def get(self, request: Request, job_id: UUID) -> Response:
        return Response(JobOutput(visible_job(request, job_id)).data)


class JobDownloadApi(APIView):
    @extend_schema(
        operation_id="jobs_download",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="The job's file, as an attachment."
            ),
            404: NOT_FOUND,
        },
    )
    def get(self, request: Request, job_id: UUID) -> Any:
        job = visible_job(request, job_id)
        if not job.file and isinstance(job.result, dict) and job.result.get(FILE_PURGED_AT):
            raise NotFound(
                "This job's file was deleted after its retention period.", code="job_file_gone"
            )
        if not job.file:
            raise NotFound("This job has no file to download (yet).", code="job_file_not_ready")
        name = job.file.name.rsplit("/", 1)[-1]
        try:
            handle = job.file.open("rb")
        except FileNotFoundError:  # recorded but gone from storage
            raise NotFound(
                "This job's file is no longer available.", code="job_file_gone"
            ) from None
        # A job's file (a report) covers many patients: each download is an audited read.
        audit_read(
            actor=request.user,
            surface=ReadSurface.JOB_DOWNLOAD,
            reads=[Read("job_file.read", job, None)],
        )
        return FileResponse(handle, as_attachment=True, filename=name)
