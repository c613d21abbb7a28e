"""A probe task for the request-id tests: it logs the request id it sees."""

from __future__ import annotations

import structlog

from config.celery import app
from core.metrics import EVENTS_DELIVERED
from core.request_context import current_request_id

logger = structlog.get_logger(__name__)


@app.task(name="tests.observability.record_request_id", ignore_result=True)
def record_request_id(label: str) -> None:
    logger.info("probe_task_ran", label=label, seen_request_id=current_request_id())


@app.task(name="tests.observability.count_delivery", ignore_result=True)
def count_delivery() -> None:
    EVENTS_DELIVERED.inc()
