"""Clocks a test moves instead of sleeping past a cool-down or a cache lifetime.

Wall-clock time (``timezone.now``, token expiry) is moved with time-machine. It does not
reach ``time.monotonic``, which the in-process circuit breakers and rate limits
(``core.resilience.LocalStore``) and the user-row cache (``accounts.authentication``)
read: both take a clock, and a test gives them a ``SteppingClock``.
"""

from __future__ import annotations

import time

import pytest

from core import resilience


class SteppingClock:
    """``time.monotonic()`` plus whatever the test skipped with ``advance``: real time
    still flows (rate limits, timeouts), and a cool-down passes at once."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped

    def advance(self, seconds: float) -> None:
        self.skipped += seconds


def resilience_on_stepping_clock(monkeypatch: pytest.MonkeyPatch) -> SteppingClock:
    """For this test, breakers and rate limits live in this process on a clock it moves.

    (On Redis their clock is the server's ``TIME``, which no test can move; the Redis
    store's own timing is tested in tests/core/test_resilience.py.)
    """
    clock = SteppingClock()
    monkeypatch.setattr(resilience, "_default_store", resilience.LocalStore(clock))
    return clock
