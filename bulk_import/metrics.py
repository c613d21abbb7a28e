"""The bulk import's metrics: rows written, and the external directory's circuit breaker
(read when Prometheus scrapes, like every breaker: ``core.metrics.BreakerStateCollector``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from prometheus_client import Counter

from core.metrics import BreakerStateCollector
from core.resilience import CircuitBreaker

IMPORT_ROWS = Counter(
    "import_rows",
    "Bulk-import rows written to the database (created, updated or unchanged; after commit).",
)


def _directory_breakers() -> Iterator[tuple[tuple[()], CircuitBreaker]]:
    from bulk_import.directory_client import directory_breaker

    if settings.DIRECTORY_SYNC_URL:  # no directory configured: no breaker to show
        yield (), directory_breaker()


DIRECTORY_CIRCUIT_STATE = BreakerStateCollector(
    "directory_sync_circuit_state",
    "External directory sync circuit breaker: 0 closed, 1 half-open, 2 open.",
    _directory_breakers,
)
