"""An API view that starts the probe task, as a service called from a view would."""

from __future__ import annotations

import uuid

import structlog
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.broker import send_task_soon
from tests.observability.tasks import record_request_id

logger = structlog.get_logger(__name__)


class StartProbeTaskApi(APIView):
    """Authenticated like every API view (JWT), so DRF decides the user inside the view."""

    def get(self, request: Request) -> Response:
        logger.info("probe_view_ran")
        # The test names the queue its worker listens on.
        queue = request.query_params["queue"]
        if request.query_params.get("via") == "soon":  # as the outbox publishes after commit
            task_id = str(uuid.uuid4())
            send_task_soon(record_request_id.name, ("from-request",), queue=queue, task_id=task_id)
        else:
            task_id = record_request_id.apply_async(args=("from-request",), queue=queue).id
        logger.info("probe_task_started")
        return Response({"task_id": task_id})


urlpatterns = [path("probe/", StartProbeTaskApi.as_view())]
