"""``POST /api/v1/hospitals/bulk/``: staff upload a hospital CSV; 202 with the job to poll."""

from __future__ import annotations

import hashlib
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsStaffRole
from bulk_import.import_services import check_upload_size, hospital_import_start, max_upload_bytes
from core.errors import InvalidRequest
from core.idempotency import idempotent

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def uploaded_file_fingerprint(request: Request) -> str:
    """SHA-256 of the uploaded file's bytes (read in chunks): the Idempotency-Key binding."""
    digest = hashlib.sha256()
    upload = request.FILES.get("file")
    if upload is not None:
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
    return digest.hexdigest()


class HospitalBulkImportApi(APIView):
    permission_classes = [IsStaffRole]
    parser_classes = [MultiPartParser]

    class HospitalBulkImportOutput(serializers.Serializer[Any]):
        job_id = serializers.UUIDField()
        status = serializers.CharField()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and role first
        # Refuse an oversized body from its Content-Length, before reading any of it.
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit():
            check_upload_size(max(0, int(declared) - MULTIPART_OVERHEAD_BYTES))

    @extend_schema(
        operation_id="hospitals_bulk_import",
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        responses={202: HospitalBulkImportOutput},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Same key and same file: the first answer again. Other file: 422.",
            )
        ],
    )
    @idempotent(required=False, fingerprint=uploaded_file_fingerprint)
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidRequest(
                "Send the CSV as the multipart form field 'file'.",
                code="file_missing",
                details={"max_bytes": max_upload_bytes()},
            )
        job = hospital_import_start(user=request.user, upload=upload)
        return Response(
            self.HospitalBulkImportOutput({"job_id": job.id, "status": job.status}).data, status=202
        )
