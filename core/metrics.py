"""The metrics registry, the domain-free metrics and the ``/metrics`` scrape view.

Each app owns its metric objects in its own ``metrics.py`` (``scheduling.metrics``,
``notifications.metrics``, ``bulk_import.metrics``, ``audit.metrics``); this module keeps
what they share. Services count *after commit*, so that a rolled-back booking is never
counted::

    from core.metrics import count_on_commit
    from scheduling.metrics import BOOKINGS
    count_on_commit(BOOKINGS)

Counters that are counted outside a transaction (a webhook attempt, a delivery) may
call ``.inc()`` directly. ``events_pending`` is not set by anyone: it is read from the
outbox when Prometheus scrapes, and so is every circuit breaker's state
(``BreakerStateCollector``, the one way a breaker is exported). Under gunicorn or a
prefork Celery worker, set ``PROMETHEUS_MULTIPROC_DIR`` so that every process writes to one
shared directory (see docs/observability.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from core.errors import json_error
from core.resilience import BreakerState, CircuitBreaker

logger = logging.getLogger(__name__)

EVENTS_DELIVERED = Counter(
    "events_delivered", "Outbox events delivered to a subscriber (one per event and subscriber)."
)
RETENTION_DELETED = Counter(
    "retention_deleted",
    "Rows (or files) deleted by the retention purges (core.retention), by purge.",
    ["kind"],
)

# The outbox (owned by the events work) exposes ``pending_event_count() -> int`` here.
# Imported lazily at scrape time so metrics work before, and without, the outbox.
PENDING_EVENT_COUNT_PATH = "core.outbox.pending_event_count"


def count_on_commit(counter: Counter, amount: float = 1) -> None:
    """Increment ``counter`` once the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(lambda: counter.inc(amount))


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


# A circuit breaker's state on /metrics: 0 closed, 1 half-open, 2 open.
BREAKER_STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}

# The breakers a gauge exports, each with its label values (in the gauge's label order).
LabelledBreakers = Callable[[], Iterable[tuple[Sequence[str], CircuitBreaker]]]


class BreakerStateCollector(Collector):
    """A gauge of circuit-breaker states, read from the shared store (core.resilience) when
    Prometheus scrapes: every process sees the state every worker left, and an open circuit
    past its cool-down reads half-open, as the next caller would meet it."""

    def __init__(
        self,
        name: str,
        documentation: str,
        breakers: LabelledBreakers,
        labels: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.breakers = breakers
        self.labels = list(labels)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        try:
            for label_values, breaker in self.breakers():
                family.add_metric(list(label_values), BREAKER_STATE_VALUES[breaker.state])
        except Exception as exc:  # a scrape never fails because Redis or the database is away
            logger.warning("%s could not be read: %s", self.name, type(exc).__name__)
            return
        if family.samples:
            yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # nothing read at registration


_scrape_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Register a collector computed at scrape time (from the database, Redis…); once.

    Use this rather than ``REGISTRY.register``: with ``PROMETHEUS_MULTIPROC_DIR`` set,
    ``/metrics`` renders a per-scrape registry and only adds the collectors listed here.
    """
    if collector in _scrape_collectors:
        return
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
