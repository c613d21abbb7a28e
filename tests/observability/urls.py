"""A view that starts the probe task, as an API view's service would."""

from __future__ import annotations

import structlog
from django.http import HttpRequest, JsonResponse
from django.urls import path

from tests.observability.tasks import PROBE_QUEUE, record_request_id

logger = structlog.get_logger(__name__)


def start_probe_task(request: HttpRequest) -> JsonResponse:
    logger.info("probe_view_ran")
    result = record_request_id.apply_async(args=["from-request"], queue=PROBE_QUEUE)
    return JsonResponse({"task_id": result.id})


urlpatterns = [path("probe/", start_probe_task)]
