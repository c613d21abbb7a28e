"""The waitlist's metrics (core.metrics serves the registry): offers by what became of
them, counted after commit."""

from __future__ import annotations

from prometheus_client import Counter

WAITLIST_OFFERS = Counter(
    "waitlist_offers",
    "Waitlist offers by step: offered, accepted, declined, expired, withdrawn (after commit).",
    ["step"],
)
