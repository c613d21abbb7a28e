"""``GET /api/v1/audit-events/``: the audit trail for staff, filtered and paginated.

The trail grows by millions of rows, so its pages are cheap at any depth (issue #19):
``count`` is exact up to 10,000 and PostgreSQL's estimate past that
(``core.pagination.flat_count``), and ``next`` is a keyset link (``after=<id>``: the
rows older than that event, through the ``occurred_at`` index) instead of an OFFSET that
reads every row before the page. ``page`` still answers for the first pages.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from accounts.permissions import IsStaffRole
from audit.models import AuditEvent
from audit.selectors import audit_event_list, audit_events_after
from core.errors import InvalidRequest
from core.fields import MAX_ID
from core.pagination import DefaultPagination, flat_count


class AuditEventListApi(APIView):
    permission_classes = [IsStaffRole]

    class FilterInput(serializers.Serializer):
        actor = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
        action = serializers.CharField(required=False, max_length=100)
        object_type = serializers.CharField(required=False, max_length=100)
        object_id = serializers.CharField(required=False, max_length=64)
        after = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)

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
            OpenApiParameter(
                "after",
                OpenApiTypes.INT,
                description="An event's id: the page of events after it, newest first "
                "(what `next` links to).",
            ),
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
        after = values.pop("after", None)
        events = audit_event_list(**values, occurred_from=start, occurred_to=end)
        events = events.select_related("seal")
        paginator = DefaultPagination()
        if after is not None:
            return self._keyset_page(request, paginator, events, after)
        page = paginator.paginate_queryset(events, request, view=self)
        response = paginator.get_paginated_response(self.Output(page, many=True).data)
        if page and paginator.page is not None and paginator.page.has_next():
            response.data["next"] = _after_link(request, page[-1])
        return response

    def _keyset_page(
        self,
        request: Request,
        paginator: DefaultPagination,
        events: QuerySet[AuditEvent],
        after: int,
    ) -> Response:
        size = paginator.get_page_size(request) or paginator.page_size
        rows = list(audit_events_after(events, after)[:size])
        return Response(
            {
                "count": flat_count(events),
                "next": _after_link(request, rows[-1]) if rows and len(rows) == size else None,
                "previous": None,
                "results": self.Output(rows, many=True).data,
            }
        )


def _after_link(request: Request, last: AuditEvent) -> str:
    url = remove_query_param(request.build_absolute_uri(), "page")
    return replace_query_param(url, "after", last.pk)
