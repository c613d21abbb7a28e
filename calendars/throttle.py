"""How often one feed URL may be read: ``CALENDAR_FEED_RATE`` (``"60/hour"``) per token,
counted in the shared Django cache (Redis in production), so every process and server
counts together. A fixed window per token hash, counted with the cache's atomic ``incr``:
concurrent reads cannot both take the last one. The token itself never enters the cache."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def feed_rate() -> tuple[int, int]:
    """``(reads, seconds)`` of ``CALENDAR_FEED_RATE``, as DRF writes rates (``"60/hour"``)."""
    count, period = str(settings.CALENDAR_FEED_RATE).split("/")
    return int(count), PERIODS[period.strip()[0]]


def feed_read_wait(digest: str) -> int:
    """Count one read of the feed whose token hashes to ``digest``: 0 when it is allowed,
    else the seconds until the window ends (at least 1)."""
    limit, seconds = feed_rate()
    now = time.time()
    window = int(now // seconds)
    key = f"calendar_feed_reads:{digest}:{window}"
    cache.add(key, 0, timeout=seconds + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this read opens the window
        cache.set(key, 1, timeout=seconds + 1)
        count = 1
    if count <= limit:
        return 0
    return max(math.ceil((window + 1) * seconds - now), 1)  # never too early
