"""Notifications' metrics: failed webhook attempts, and each endpoint's circuit breaker.

The breaker's state is read when Prometheus scrapes (``core.metrics.BreakerStateCollector``),
labelled by the endpoint's id, never its URL (a URL may carry a token).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter

from core.metrics import BreakerStateCollector
from core.resilience import CircuitBreaker

WEBHOOK_FAILURES = Counter(
    "webhook_failures", "Webhook delivery attempts that failed (error, timeout or non-2xx)."
)


def _endpoint_breakers() -> Iterator[tuple[tuple[str], CircuitBreaker]]:
    # Imported here: webhook_delivery imports this module to count its failures.
    from notifications.models import WebhookEndpoint
    from notifications.webhook_delivery import endpoint_breaker

    for endpoint in WebhookEndpoint.objects.filter(is_active=True).order_by("pk"):
        yield (str(endpoint.pk),), endpoint_breaker(endpoint)


WEBHOOK_CIRCUIT_STATE = BreakerStateCollector(
    "webhook_circuit_state",
    "Circuit breaker state per webhook endpoint: 0 closed, 1 half-open, 2 open.",
    _endpoint_breakers,
    labels=("endpoint",),
)
