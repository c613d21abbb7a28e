"""``POST /api/v1/reports/``: 202 with the job that builds the report file."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsClinicianOrStaff
from core.idempotency import HEADER, idempotent
from reports.services import FORMATS, Kind, ReportRequest, report_request


class ReportRequestApi(APIView):
    permission_classes = [IsClinicianOrStaff]

    class ReportRequestInput(serializers.Serializer[Any]):
        kind = serializers.ChoiceField(choices=Kind.ALL)
        date_from = serializers.DateField()
        date_to = serializers.DateField()
        format = serializers.ChoiceField(choices=FORMATS, default="csv")

        def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
            fields = super().get_fields()
            # "from" is a Python keyword: the field is declared under another name.
            fields["from"] = fields.pop("date_from")
            fields["to"] = fields.pop("date_to")
            return fields

    class ReportJobOutput(serializers.Serializer[Any]):
        job_id = serializers.UUIDField()
        status = serializers.CharField()

    @extend_schema(
        operation_id="reports_request",
        request=ReportRequestInput,
        responses={202: ReportJobOutput},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Same key and body: the first answer again. Other body: 422.",
            )
        ],
    )
    @idempotent(required=False)
    def post(self, request: Request) -> Response:
        data = self.ReportRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        job = report_request(
            user=request.user,  # type: ignore[arg-type]
            request=ReportRequest(
                kind=values["kind"],
                date_from=values["from"],
                date_to=values["to"],
                format=values["format"],
            ),
            idempotency_key=request.headers.get(HEADER, ""),
        )
        return Response(
            self.ReportJobOutput({"job_id": job.id, "status": job.status}).data, status=202
        )
