"""``GET /api/v1/audit-events/``: the audit trail for staff, filtered and paginated."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsStaffRole
from audit.models import AuditEvent
from audit.selectors import audit_event_list
from core.errors import InvalidRequest
from core.fields import MAX_ID
from core.pagination import DefaultPagination


class AuditEventListApi(APIView):
    permission_classes = [IsStaffRole]

    class FilterInput(serializers.Serializer):
        actor = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
        action = serializers.CharField(required=False, max_length=100)
        object_type = serializers.CharField(required=False, max_length=100)
        object_id = serializers.CharField(required=False, max_length=64)

        def get_fields(self) -> dict[str, serializers.Field]:
            fields = super().get_fields()
            # "from" is a Python keyword, so these two are declared here. ISO 8601 with
            # offset; "to" is exclusive.
            fields["from"] = serializers.DateTimeField(required=False)
            fields["to"] = serializers.DateTimeField(required=False)
            return fields

    class Output(serializers.ModelSerializer[AuditEvent]):
        sealed = serializers.SerializerMethodField()

        class Meta:
            model = AuditEvent
            fields = [
                "id",
                "occurred_at",
                "actor_id",
                "actor_role",
                "action",
                "object_type",
                "object_id",
                "changes",
                "metadata",
                "request_id",
                "ip_address",
                "sealed",
            ]

        def get_sealed(self, event: AuditEvent) -> bool:
            return hasattr(event, "seal")

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[
            OpenApiParameter("actor", OpenApiTypes.INT, description="Actor's user id."),
            OpenApiParameter(
                "action", OpenApiTypes.STR, description='Exact, or a prefix ending in "."'
            ),
            OpenApiParameter(
                "object_type", OpenApiTypes.STR, description='e.g. "scheduling.appointment"'
            ),
            OpenApiParameter("object_id", OpenApiTypes.STR),
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Inclusive, ISO 8601."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Exclusive, ISO 8601."),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={
            200: Output(many=True),
            400: OpenApiResponse(description="Malformed filter (error envelope)."),
            403: OpenApiResponse(description="Staff only."),
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = dict(filters.validated_data)
        start, end = values.pop("from", None), values.pop("to", None)
        if start is not None and end is not None and end <= start:
            raise InvalidRequest("'to' must be after 'from'.", code="invalid_range")
        events = audit_event_list(**values, occurred_from=start, occurred_to=end)
        events = events.select_related("seal")
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(self.Output(page, many=True).data)
