"""Client of the external hospital directory: PUT by hospital code, behind shared resilience.

Rate limit (token bucket), circuit breaker and backoff with jitter are ``core.resilience``,
the same implementation the webhooks use, with state in Redis so every worker process
shares one budget and one breaker. A PUT to ``{base}/hospitals/{code}`` is idempotent, so a
retried call (after a timeout whose request did arrive) never duplicates upstream.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from core.resilience import (
    CircuitBreaker,
    CircuitOpenError,
    RateLimiter,
    backoff_delay,
)

BREAKER_NAME = "directory-sync"
MAX_BACKOFF_SECONDS = 60.0
RATE_LIMIT_MAX_WAIT_SECONDS = 60.0


class SyncRejected(Exception):
    """The directory refused this hospital (4xx other than 429): retrying will not help."""


class SyncUnavailable(Exception):
    """Transient failures outlasted the retries (429, 5xx, timeouts)."""


@dataclass
class Attempt:
    code: str
    attempt: int
    outcome: str  # "ok", "429", "503", "timeout", …
    backoff: float = 0.0  # slept before the next attempt
    backoff_ceiling: float = 0.0
    granted_at: float = 0.0  # time.monotonic() when the rate limiter let it go


@dataclass
class DirectoryClient:
    base_url: str
    token: str
    limiter: RateLimiter
    breaker: CircuitBreaker
    timeout: float = 5.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random | None = None
    attempts: list[Attempt] = field(default_factory=list)  # this run's log, for the job
    _http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                timeout=httpx.Timeout(self.timeout),
                headers={"Authorization": f"Bearer {self.token}"},
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def put_hospital(self, code: str, payload: dict[str, Any]) -> None:
        """PUT one hospital; retries transient failures; raises when it cannot."""
        url = f"{self.base_url.rstrip('/')}/hospitals/{quote(code, safe='')}"
        http = self.http  # built before taking a token: the token's time is the send time
        for attempt in range(self.max_attempts):
            decision = self.breaker.allow()
            if not decision.allowed:
                raise CircuitOpenError(self.breaker.name, decision.retry_in)
            self.limiter.acquire(max_wait=RATE_LIMIT_MAX_WAIT_SECONDS)
            granted_at = time.monotonic()
            outcome, retry_after = self._put(http, url, payload)
            if outcome == "ok":
                self.breaker.success()
                self.attempts.append(Attempt(code, attempt, outcome, granted_at=granted_at))
                return
            if outcome.startswith("rejected"):
                self.breaker.success()  # the directory is healthy; our data is not
                self.attempts.append(Attempt(code, attempt, outcome, granted_at=granted_at))
                raise SyncRejected(outcome)
            self.breaker.failure()
            ceiling = min(MAX_BACKOFF_SECONDS, self.backoff_base * 2**attempt)
            delay = max(
                backoff_delay(
                    attempt, base=self.backoff_base, cap=MAX_BACKOFF_SECONDS, rng=self.rng
                ),
                retry_after,
            )
            self.attempts.append(Attempt(code, attempt, outcome, delay, ceiling, granted_at))
            if attempt < self.max_attempts - 1:
                self.sleep(delay)
        raise SyncUnavailable(f"{code}: no success after {self.max_attempts} attempts")

    def _put(self, http: httpx.Client, url: str, payload: dict[str, Any]) -> tuple[str, float]:
        try:
            response = http.put(url, json=payload)
        except httpx.TimeoutException:
            return "timeout", 0.0
        except httpx.TransportError as exc:
            return f"error:{type(exc).__name__}", 0.0
        status = response.status_code
        if 200 <= status < 300:
            return "ok", 0.0
        if status == 429 or status >= 500:
            return str(status), _retry_after(response)
        return f"rejected:{status}", 0.0


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_BACKOFF_SECONDS)
    except ValueError:
        return 0.0  # an HTTP date or garbage: the backoff decides


def directory_breaker() -> CircuitBreaker:
    """The one breaker of the directory, shared by every process through core.resilience."""
    return CircuitBreaker(
        BREAKER_NAME,
        threshold=settings.DIRECTORY_SYNC_BREAKER_THRESHOLD,
        cooldown=settings.DIRECTORY_SYNC_BREAKER_COOLDOWN_SECONDS,
        probe_timeout=settings.DIRECTORY_SYNC_TIMEOUT_SECONDS * 2,
    )


def directory_client_from_settings() -> DirectoryClient:
    return DirectoryClient(
        base_url=settings.DIRECTORY_SYNC_URL,
        token=settings.DIRECTORY_SYNC_TOKEN,
        limiter=RateLimiter(
            BREAKER_NAME,
            rate=settings.DIRECTORY_SYNC_RATE_PER_SECOND,
            capacity=settings.DIRECTORY_SYNC_BURST,
        ),
        breaker=directory_breaker(),
        timeout=settings.DIRECTORY_SYNC_TIMEOUT_SECONDS,
        max_attempts=settings.DIRECTORY_SYNC_MAX_ATTEMPTS,
        backoff_base=settings.DIRECTORY_SYNC_BACKOFF_BASE_SECONDS,
    )
