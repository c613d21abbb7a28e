"""/metrics: Prometheus text with Carebook's business metrics, for allowed scrapers only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import EVENTS_DELIVERED, count_on_commit
from core.models import OutboxEvent
from notifications import metrics as notification_metrics
from notifications.metrics import WEBHOOK_FAILURES
from notifications.webhook_delivery import endpoint_breaker
from scheduling.metrics import BOOKING_CONFLICTS, BOOKINGS, CANCELLATIONS
from tests.clocks import resilience_on_stepping_clock
from tests.factories import WebhookEndpointFactory
from tests.observability.helpers import WorkerProcess, wait_for
from tests.observability.tasks import count_delivery

LOOPBACK = {"HTTP_HOST": "localhost", "REMOTE_ADDR": "127.0.0.1"}
REMOTE = {"HTTP_HOST": "localhost", "REMOTE_ADDR": "10.20.30.40"}
REPO = Path(__file__).resolve().parents[2]
TOKEN = "scrape-token-used-only-in-tests"


def scrape(client, **extra) -> dict[str, dict[tuple, float]]:
    """GET /metrics and parse it as Prometheus does: {metric: {labels: value}}."""
    response = client.get("/metrics", **{**LOOPBACK, **extra})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples[name][tuple(sorted(labels.items()))]


@pytest.mark.django_db
def test_metrics_exposes_the_business_counters_and_gauges(client, monkeypatch):
    # given some activity recorded through the public metric objects
    clock = resilience_on_stepping_clock(monkeypatch)
    shut, probing, closed = (
        WebhookEndpointFactory(breaker_threshold=1, breaker_cooldown_seconds=cooldown)
        for cooldown in (600, 60, 60)
    )
    before = scrape(client)
    BOOKINGS.inc()
    BOOKING_CONFLICTS.inc(2)
    CANCELLATIONS.inc()
    EVENTS_DELIVERED.inc(3)
    WEBHOOK_FAILURES.inc()
    # and two endpoints' circuits opened, one of them past its cool-down
    endpoint_breaker(shut).failure()
    endpoint_breaker(probing).failure()
    clock.advance(61)
    # when
    after = scrape(client)
    # then each counter moved by exactly what was counted
    for name, delta in [
        ("bookings_total", 1),
        ("booking_conflicts_total", 2),
        ("cancellations_total", 1),
        ("events_delivered_total", 3),
        ("webhook_failures_total", 1),
    ]:
        assert value(after, name) - value(before, name) == delta, name
    # and the circuit gauge, read from the breakers, is labelled by endpoint: 2 open,
    # 1 half-open (what the next caller meets past the cool-down), 0 closed
    assert value(after, "webhook_circuit_state", endpoint=str(shut.pk)) == 2
    assert value(after, "webhook_circuit_state", endpoint=str(probing.pk)) == 1
    assert value(after, "webhook_circuit_state", endpoint=str(closed.pk)) == 0
    # and django-prometheus's own request metrics are there too
    assert any(name.startswith("django_http_requests") for name in after)


@pytest.mark.django_db
def test_events_pending_counts_undelivered_outbox_rows_at_scrape_time(client):
    # given two undelivered events and one delivered
    from django.utils import timezone

    OutboxEvent.objects.create(name="appointment.scheduled")
    OutboxEvent.objects.create(name="appointment.cancelled")
    OutboxEvent.objects.create(name="appointment.updated", delivered_at=timezone.now())
    # when
    samples = scrape(client)
    # then
    assert value(samples, "events_pending") == 2
    # and it follows the table, not a value someone set
    OutboxEvent.objects.filter(delivered_at__isnull=True).update(delivered_at=timezone.now())
    assert value(scrape(client), "events_pending") == 0


def test_a_scrape_survives_an_unreadable_outbox(client):
    # given no database access at all (no django_db mark: any query raises)
    # when
    samples = scrape(client)
    # then the scrape still answers; only events_pending is left out
    assert "events_pending" not in samples
    assert "bookings_total" in samples


def book_then_fail() -> None:
    with transaction.atomic():
        count_on_commit(BOOKINGS)
        raise RuntimeError("booking failed")


@pytest.mark.django_db(transaction=True)
def test_count_on_commit_counts_only_committed_work(client):
    # given
    before = value(scrape(client), "bookings_total")
    # when one booking commits and another rolls back
    with transaction.atomic():
        count_on_commit(BOOKINGS)
    with pytest.raises(RuntimeError, match="booking failed"):
        book_then_fail()
    # then only the committed one is counted
    assert value(scrape(client), "bookings_total") - before == 1


@pytest.mark.django_db
def test_a_scrape_survives_unreadable_breakers(client, monkeypatch):
    # given an endpoint whose breaker state cannot be read (Redis away)
    WebhookEndpointFactory()

    def unreadable():
        raise ConnectionError("redis is away")
        yield

    monkeypatch.setattr(notification_metrics.WEBHOOK_CIRCUIT_STATE, "breakers", unreadable)
    # when
    samples = scrape(client)
    # then the scrape still answers; only the circuit gauge is left out
    assert "webhook_circuit_state" not in samples
    assert "bookings_total" in samples


# --- who may scrape --------------------------------------------------------------------


def test_a_client_outside_the_allowed_networks_gets_403_in_the_envelope(client):
    # when
    response = client.get("/metrics", HTTP_X_REQUEST_ID="scrape-denied-0001", **REMOTE)
    # then
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": "permission_denied",
            "message": "Metrics are not available to this client.",
            "details": {},
            "request_id": "scrape-denied-0001",
        }
    }
    assert b"bookings_total" not in response.content


@override_settings(METRICS_ALLOWED_CIDRS=["10.20.0.0/16"])
def test_a_client_in_METRICS_ALLOWED_CIDRS_may_scrape(client):
    assert client.get("/metrics", **REMOTE).status_code == 200
    other = {**REMOTE, "REMOTE_ADDR": "10.21.0.1"}
    assert client.get("/metrics", **other).status_code == 403


@override_settings(METRICS_ALLOWED_CIDRS=["not-a-network", "10.20.30.0/24"])
def test_a_malformed_cidr_is_ignored_not_a_server_error(client):
    assert client.get("/metrics", **REMOTE).status_code == 200
    assert client.get("/metrics", **{**REMOTE, "REMOTE_ADDR": "10.9.9.9"}).status_code == 403


@override_settings(METRICS_BEARER_TOKEN=TOKEN)
def test_the_bearer_token_admits_a_remote_scraper_and_a_wrong_one_does_not(client):
    good = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **REMOTE)
    wrong = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token-for-test", **REMOTE
    )
    basic = client.get(
        "/metrics", HTTP_AUTHORIZATION="Basic s3cret-scrape-token-for-tests", **REMOTE
    )
    assert good.status_code == 200
    assert b"bookings_total" in good.content
    assert wrong.status_code == 403
    assert basic.status_code == 403


def test_no_token_configured_means_no_token_is_accepted(client):
    # given METRICS_BEARER_TOKEN is empty (the default): an empty bearer must not match
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ", **REMOTE)
    assert response.status_code == 403


def test_a_proxied_request_is_not_trusted_by_its_loopback_address(client):
    # given a reverse proxy on the same host forwarding an outside client
    response = client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9", **LOOPBACK)
    # then loopback alone does not admit it
    assert response.status_code == 403


def test_metrics_is_outside_the_api_prefix(client):
    assert client.get("/api/v1/metrics", **LOOPBACK).status_code == 404


# --- several processes (gunicorn workers, prefork Celery children) -----------------------

_CHILD = """
import django, os, sys
django.setup()
from scheduling.metrics import BOOKINGS
BOOKINGS.inc(int(sys.argv[1]))
"""

_SCRAPER = """
import django, json
django.setup()
from django.test import Client
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from core.metrics import register_scrape_collector

class Probe(Collector):
    def collect(self):
        yield GaugeMetricFamily("probe_scrape_time_value", "test", value=7)

register_scrape_collector(Probe())
response = Client(HTTP_HOST="localhost").get("/metrics")
print(json.dumps({"status": response.status_code, "body": response.content.decode()}))
"""


def test_multiprocess_dir_sums_counters_across_processes(tmp_path):
    # given PROMETHEUS_MULTIPROC_DIR shared by two worker processes and the scraper
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "LOG_LEVEL": "ERROR",
    }

    def run(script: str, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout

    # when one process books 2 and another 3
    run(_CHILD, "2")
    run(_CHILD, "3")
    scraped = json.loads(run(_SCRAPER).strip().splitlines()[-1])
    # then one scrape from a third process sees them all
    assert scraped["status"] == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped["body"])
        for s in family.samples
    }
    assert samples[("bookings_total", ())] == 5
    # and a collector registered with register_scrape_collector is rendered too
    assert samples[("probe_scrape_time_value", ())] == 7


@pytest.mark.redis
def test_a_prefork_worker_serves_its_childrens_metrics(tmp_path, closed_port):
    # given a prefork worker with a multiprocess dir and CELERY_METRICS_PORT
    port = closed_port  # free now; the worker binds it
    worker = WorkerProcess(
        pool="prefork",
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "CELERY_METRICS_PORT": str(port)},
    )
    try:
        wait_for(worker.is_ready, seconds=60)
        # when a child process counts two deliveries
        first = count_delivery.apply_async(queue=worker.queue)
        second = count_delivery.apply_async(queue=worker.queue)
        worker.task_lines(first.id)
        worker.task_lines(second.id)
        # then the main process serves them, in Prometheus text, on loopback
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        worker.stop()
    samples = {
        s.name: s.value for family in text_string_to_metric_families(body) for s in family.samples
    }
    assert samples["events_delivered_total"] == 2
    # and the worker does not run the outbox query (the web serves events_pending)
    assert "events_pending" not in samples
