"""The provisioned Grafana dashboard parses, and every metric it queries exists.

Carebook's own metrics (django-prometheus and core.metrics) are checked against a real
scrape of ``/metrics`` after the activity that creates their samples; the Celery ones
against the metric names celery-exporter documents (the compose file runs it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from notifications.webhook_delivery import endpoint_breaker
from tests.factories import PatientFactory, SlotFactory, WebhookEndpointFactory

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "carebook.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

# danihodovic/celery-exporter (README "Metrics" table; the image docker-compose.yml runs).
CELERY_EXPORTER_METRICS = {
    "celery_task_sent_total",
    "celery_task_received_total",
    "celery_task_started_total",
    "celery_task_succeeded_total",
    "celery_task_failed_total",
    "celery_task_rejected_total",
    "celery_task_revoked_total",
    "celery_task_retried_total",
    "celery_worker_up",
    "celery_worker_tasks_active",
    "celery_task_runtime_bucket",
    "celery_queue_length",
    "celery_active_worker_count",
    "celery_active_process_count",
}
# A metric is a name before its label matchers or range ("x{…}", "x[5m]"), or a bare name
# as a function's whole argument ("max(x)").
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{|\[)")
BARE_IN_CALL = re.compile(r"\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\)")
GROUPING = re.compile(r"\b(?:by|without)\s*\([^)]*\)")
PROMQL_WORDS = {"sum", "max", "min", "avg", "rate", "by", "without", "clamp_min"}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def _metric_names(expr: str) -> set[str]:
    expr = GROUPING.sub("", expr)  # "by (le, view)" names labels, not metrics
    names = set(SELECTOR.findall(expr)) | set(BARE_IN_CALL.findall(expr))
    return names - PROMQL_WORDS


def _scraped_sample_names(client) -> set[str]:
    response = client.get("/metrics", HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    return {
        sample.name
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_the_dashboard_is_provisioned_from_this_folder():
    dashboard = _dashboard()
    assert dashboard["uid"] == "carebook"
    provider = (PROVISIONING / "dashboards" / "carebook.yml").read_text()
    assert "/var/lib/grafana/dashboards" in provider
    datasource = (PROVISIONING / "datasources" / "prometheus.yml").read_text()
    uids = {
        target["datasource"]["uid"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    }
    assert uids == {"prometheus"}
    assert "uid: prometheus" in datasource


def test_every_panel_has_a_query_and_unique_id():
    dashboard = _dashboard()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert all(_metric_names(target["expr"]) for target in panel["targets"])


def test_the_dashboard_covers_what_operations_asked_for():
    names = set().union(*(_metric_names(q) for q in _queries(_dashboard())))
    assert {
        "django_http_requests_total_by_view_transport_method_total",
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "bookings_total",
        "booking_conflicts_total",
        "celery_queue_length",
        "celery_task_runtime_bucket",
        "import_rows_total",
        "webhook_circuit_state",
    } <= names


@pytest.mark.django_db
def test_every_queried_metric_is_exposed(client, client_for):
    # given the activity that creates labelled samples: a request to a view, a booking,
    # a refused booking of the same slot, a webhook endpoint's breaker state
    slot = SlotFactory()
    first, second = client_for(PatientFactory()), client_for(PatientFactory())
    body = {"slot": slot.pk, "reason": ""}
    assert first.post("/api/v1/appointments/", body, HTTP_IDEMPOTENCY_KEY="g-1").status_code == 201
    assert second.post("/api/v1/appointments/", body, HTTP_IDEMPOTENCY_KEY="g-2").status_code == 409
    assert first.get("/api/v1/appointments/").status_code == 200
    endpoint_breaker(WebhookEndpointFactory(breaker_threshold=1)).failure()

    # when Prometheus scrapes Carebook
    exposed = _scraped_sample_names(client) | CELERY_EXPORTER_METRICS

    # then every metric a panel queries is there
    queried = set().union(*(_metric_names(q) for q in _queries(_dashboard())))
    assert queried - exposed == set()
