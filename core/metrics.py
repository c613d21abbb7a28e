"""Carebook's business metrics, exported on ``/metrics`` beside django-prometheus's own.

Services import the metric objects and count *after commit*, so that a rolled-back
booking is never counted::

    from core.metrics import BOOKINGS, count_on_commit
    count_on_commit(BOOKINGS)

Counters that are counted outside a transaction (a webhook attempt, a delivery) may
call ``.inc()`` directly. ``events_pending`` is not set by anyone: it is read from the
outbox when Prometheus scrapes. Under gunicorn or a prefork Celery worker, set
``PROMETHEUS_MULTIPROC_DIR`` so that every process writes to one shared directory
(see docs/observability.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from core.errors import json_error

logger = logging.getLogger(__name__)

BOOKINGS = Counter("bookings", "Appointments booked (counted after commit).")
BOOKING_CONFLICTS = Counter(
    "booking_conflicts", "Booking attempts refused because the slot or patient was taken (409)."
)
CANCELLATIONS = Counter("cancellations", "Appointments cancelled (counted after commit).")
EVENTS_DELIVERED = Counter(
    "events_delivered", "Outbox events delivered to a subscriber (one per event and subscriber)."
)
WEBHOOK_FAILURES = Counter(
    "webhook_failures", "Webhook delivery attempts that failed (error, timeout or non-2xx)."
)
IMPORT_ROWS = Counter(
    "import_rows",
    "Bulk-import rows written to the database (created, updated or unchanged; after commit).",
)
# 0 closed, 1 half-open, 2 open. Labelled by the endpoint's id, never its URL (a URL may
# carry a token). "mostrecent" keeps the last value any process set when multiprocess.
WEBHOOK_CIRCUIT_STATE = Gauge(
    "webhook_circuit_state",
    "Circuit breaker state per webhook endpoint: 0 closed, 1 half-open, 2 open.",
    ["endpoint"],
    multiprocess_mode="mostrecent",
)
CIRCUIT_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}

# The outbox (owned by the events work) exposes ``pending_event_count() -> int`` here.
# Imported lazily at scrape time so metrics work before, and without, the outbox.
PENDING_EVENT_COUNT_PATH = "core.outbox.pending_event_count"


def count_on_commit(counter: Counter, amount: float = 1) -> None:
    """Increment ``counter`` once the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(lambda: counter.inc(amount))


def set_webhook_circuit_state(*, endpoint_id: object, state: str) -> None:
    """Publish an endpoint's breaker state: ``closed``, ``half_open`` or ``open``."""
    if state not in CIRCUIT_STATE_VALUES:
        raise ValueError(f"unknown circuit state {state!r}")
    WEBHOOK_CIRCUIT_STATE.labels(endpoint=str(endpoint_id)).set(CIRCUIT_STATE_VALUES[state])


def _pending_event_count() -> float | None:
    try:
        count_pending: Callable[[], int] = import_string(PENDING_EVENT_COUNT_PATH)
    except ImportError:
        return None  # no outbox yet
    try:
        return float(count_pending())
    except Exception as exc:
        # A scrape must never fail because the database is down; /readyz reports that.
        logger.warning("events_pending could not be read: %s", type(exc).__name__)
        return None


class EventsPendingCollector(Collector):
    """``events_pending``: outbox rows not yet delivered, counted when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        count = _pending_event_count()
        if count is None:
            return
        yield GaugeMetricFamily(
            "events_pending", "Outbox events recorded but not yet delivered.", value=count
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Describing nothing keeps registration from calling collect() (and the DB) at import.
        return iter(())


_scrape_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Register a collector computed at scrape time (from the database, Redis…).

    Use this rather than ``REGISTRY.register``: with ``PROMETHEUS_MULTIPROC_DIR`` set,
    ``/metrics`` renders a per-scrape registry and only adds the collectors listed here.
    """
    REGISTRY.register(collector)
    _scrape_collectors.append(collector)


EVENTS_PENDING = EventsPendingCollector()
register_scrape_collector(EVENTS_PENDING)


def scrape_collectors() -> list[Collector]:
    """Collectors computed at scrape time, to add to a multiprocess registry too."""
    return list(_scrape_collectors)


def registry_for_scrape() -> CollectorRegistry:
    """The registry ``/metrics`` renders: the process's own, or every process's files."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in scrape_collectors():
        registry.register(collector)
    return registry


def _bearer_token_matches(request: HttpRequest) -> bool:
    expected = settings.METRICS_BEARER_TOKEN
    if not expected:
        return False
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


def _address_allowed(request: HttpRequest) -> bool:
    # Behind a reverse proxy every client would look like the proxy (often 127.0.0.1):
    # a proxied request is never trusted by its address, only by the token.
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for cidr in settings.METRICS_ALLOWED_CIDRS:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            # Fail closed: a typo admits no one, and says so, instead of a 500 per scrape.
            logger.error("METRICS_ALLOWED_CIDRS: %r is not a network; ignored", cidr)
    return networks


def metrics_allowed(request: HttpRequest) -> bool:
    """Operations data: loopback / METRICS_ALLOWED_CIDRS, or METRICS_BEARER_TOKEN."""
    return _bearer_token_matches(request) or _address_allowed(request)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics`` in Prometheus text format, for allowed scrapers only."""
    if not metrics_allowed(request):
        return json_error(403, "permission_denied", "Metrics are not available to this client.")
    return HttpResponse(generate_latest(registry_for_scrape()), content_type=CONTENT_TYPE_LATEST)
