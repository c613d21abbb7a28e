"""A view that starts the probe task, as an API view's service would."""

from __future__ import annotations

import structlog
from django.http import HttpRequest, JsonResponse
from django.urls import path

from tests.observability.tasks import record_request_id

logger = structlog.get_logger(__name__)


def start_probe_task(request: HttpRequest) -> JsonResponse:
    logger.info("probe_view_ran")
    # The test names the queue its worker listens on.
    result = record_request_id.apply_async(args=["from-request"], queue=request.GET["queue"])
    return JsonResponse({"task_id": result.id})


urlpatterns = [path("probe/", start_probe_task)]
