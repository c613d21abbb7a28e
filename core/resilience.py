"""Domain-free resilience around calls to other systems: circuit breaker, rate limiter, retry.

Webhook delivery uses these today and the external directory sync of the bulk import will
reuse them, so nothing here knows what is being called.

Where the state lives, and why
------------------------------
A breaker or a rate limit kept per process is no breaker at all under a prefork Celery
worker or several gunicorn workers: each process would count its own failures and spend
its own budget. Both keep their state in **Redis**, through the Redis cache that
``CACHE_URL`` configures, and every state change is one Lua script, so it is atomic across
processes and machines without a lock held across the network call. Redis' own clock
(``TIME``) is used, so workers with skewed clocks agree on cool-downs and refills.
We chose Redis over a PostgreSQL row lock because a rate limiter is consulted on every
call: a row lock would add a write transaction (and a hot row) to each outbound request,
and the expiry of idle state is free in Redis.

Without a Redis cache (the embedded ``make run`` demo on locmem) the same algorithms run on
a process-local store and a warning is logged once: good enough for a single-process demo,
never used when ``CACHE_URL`` points at Redis (docker compose, CI, production).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from django.conf import settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "carebook:resilience"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """Raised instead of calling while a breaker is open; ``retry_in`` says for how long."""

    def __init__(self, name: str, retry_in: float) -> None:
        self.name = name
        self.retry_in = retry_in
        super().__init__(f"Circuit {name!r} is open; retry in {retry_in:.1f}s.")


class RateLimitedError(Exception):
    """Raised when a call would have to wait longer than the caller allows."""

    def __init__(self, name: str, retry_in: float) -> None:
        self.name = name
        self.retry_in = retry_in
        super().__init__(f"Rate limit {name!r} reached; retry in {retry_in:.2f}s.")


@dataclass(frozen=True)
class BreakerDecision:
    allowed: bool
    state: BreakerState
    retry_in: float  # seconds until a call may be tried again (0 when allowed)


class StateStore(Protocol):
    """Atomic operations a breaker and a limiter need; one implementation per backend."""

    def breaker_allow(self, key: str, cooldown: float, probe_timeout: float) -> BreakerDecision: ...

    def breaker_success(self, key: str) -> BreakerState: ...

    def breaker_failure(self, key: str, threshold: int, ttl: int) -> BreakerState: ...

    def breaker_peek(self, key: str, cooldown: float) -> BreakerDecision: ...

    def bucket_reserve(self, key: str, rate: float, capacity: float, max_wait: float) -> float:
        """Take one token; return the wait before using it, or -wait (nothing taken)."""
        ...


# --- Redis ----------------------------------------------------------------------------

# Breaker hash fields: state, failures, opened_at, probe_until (Redis TIME seconds).
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

_BREAKER_ALLOW = (
    _NOW
    + """
local cooldown = tonumber(ARGV[1])
local probe_timeout = tonumber(ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {1, 'closed', '0'} end
local opened_at = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if state == 'open' then
  local left = opened_at + cooldown - now
  if left > 0 then return {0, 'open', tostring(left)} end
end
-- cooled down (or a half-open probe that never reported back): let one probe through
if state == 'half_open' and probe_until > now then
  return {0, 'half_open', tostring(probe_until - now)}
end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until',
           string.format('%.6f', now + probe_timeout))
return {1, 'half_open', '0'}
"""
)

# A closed breaker with no failures is simply an absent key.
_BREAKER_SUCCESS = """
redis.call('DEL', KEYS[1])
return 'closed'
"""

_BREAKER_FAILURE = (
    _NOW
    + """
local threshold = tonumber(ARGV[1])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
if state == 'half_open' or (state == 'closed' and failures >= threshold) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', string.format('%.6f', now),
             'probe_until', '0')
  return 'open'
end
return state
"""
)

# Read-only: what allow() would answer now, without taking a probe.
_BREAKER_PEEK = (
    _NOW
    + """
local cooldown = tonumber(ARGV[1])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {1, 'closed', '0'} end
local opened_at = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if state == 'open' and opened_at + cooldown > now then
  return {0, 'open', tostring(opened_at + cooldown - now)}
end
if state == 'half_open' and probe_until > now then
  return {0, 'half_open', tostring(probe_until - now)}
end
return {1, 'half_open', '0'}
"""
)

# Token bucket: tokens may not go below zero; a caller that would have to wait longer than
# max_wait takes nothing. Reserving a future token (and sleeping outside Redis) spaces
# callers across processes without holding anything while they wait.
_BUCKET_RESERVE = (
    _NOW
    + """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or ARGV[2])
local stored_ts = redis.call('HGET', KEYS[1], 'ts')
local ts = now
if stored_ts then ts = tonumber(stored_ts) end
-- 'ts' may lie in the future: it is when the last reserved token becomes available
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end
local wait = (ts - now)
if tokens < 1 then wait = wait + (1 - tokens) / rate end
if wait > max_wait then return string.format('%.6f', -wait) end
if tokens >= 1 then
  tokens = tokens - 1
else
  ts = now + wait
  tokens = 0
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'ts', string.format('%.6f', ts))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate + wait) + 60)
return string.format('%.6f', wait)
"""
)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._scripts = {
            name: client.register_script(source)
            for name, source in {
                "allow": _BREAKER_ALLOW,
                "success": _BREAKER_SUCCESS,
                "failure": _BREAKER_FAILURE,
                "peek": _BREAKER_PEEK,
                "reserve": _BUCKET_RESERVE,
            }.items()
        }

    def breaker_allow(self, key: str, cooldown: float, probe_timeout: float) -> BreakerDecision:
        allowed, state, retry_in = self._scripts["allow"](
            keys=[key], args=[cooldown, probe_timeout]
        )
        return BreakerDecision(bool(allowed), BreakerState(_text(state)), float(_text(retry_in)))

    def breaker_success(self, key: str) -> BreakerState:
        return BreakerState(_text(self._scripts["success"](keys=[key])))

    def breaker_failure(self, key: str, threshold: int, ttl: int) -> BreakerState:
        return BreakerState(_text(self._scripts["failure"](keys=[key], args=[threshold, ttl])))

    def breaker_peek(self, key: str, cooldown: float) -> BreakerDecision:
        allowed, state, retry_in = self._scripts["peek"](keys=[key], args=[cooldown])
        return BreakerDecision(bool(allowed), BreakerState(_text(state)), float(_text(retry_in)))

    def bucket_reserve(self, key: str, rate: float, capacity: float, max_wait: float) -> float:
        return float(_text(self._scripts["reserve"](keys=[key], args=[rate, capacity, max_wait])))


# --- process-local fallback (demo only) --------------------------------------------------


class LocalStore:
    """The same algorithms in one process, for the embedded demo without Redis."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}

    def _breaker(self, key: str) -> dict[str, Any]:
        return self._data.setdefault(
            key, {"state": "closed", "failures": 0, "opened_at": 0.0, "probe_until": 0.0}
        )

    def breaker_allow(self, key: str, cooldown: float, probe_timeout: float) -> BreakerDecision:
        with self._lock:
            now, row = self._clock(), self._breaker(key)
            if row["state"] == "closed":
                return BreakerDecision(True, BreakerState.CLOSED, 0.0)
            if row["state"] == "open" and row["opened_at"] + cooldown > now:
                return BreakerDecision(False, BreakerState.OPEN, row["opened_at"] + cooldown - now)
            if row["state"] == "half_open" and row["probe_until"] > now:
                return BreakerDecision(False, BreakerState.HALF_OPEN, row["probe_until"] - now)
            row.update(state="half_open", probe_until=now + probe_timeout)
            return BreakerDecision(True, BreakerState.HALF_OPEN, 0.0)

    def breaker_success(self, key: str) -> BreakerState:
        with self._lock:
            self._breaker(key).update(state="closed", failures=0, probe_until=0.0)
            return BreakerState.CLOSED

    def breaker_failure(self, key: str, threshold: int, ttl: int) -> BreakerState:
        with self._lock:
            row = self._breaker(key)
            row["failures"] += 1
            if row["state"] == "half_open" or (
                row["state"] == "closed" and row["failures"] >= threshold
            ):
                row.update(state="open", opened_at=self._clock(), probe_until=0.0)
            return BreakerState(row["state"])

    def breaker_peek(self, key: str, cooldown: float) -> BreakerDecision:
        with self._lock:
            now, row = self._clock(), self._breaker(key)
            if row["state"] == "closed":
                return BreakerDecision(True, BreakerState.CLOSED, 0.0)
            if row["state"] == "open" and row["opened_at"] + cooldown > now:
                return BreakerDecision(False, BreakerState.OPEN, row["opened_at"] + cooldown - now)
            if row["state"] == "half_open" and row["probe_until"] > now:
                return BreakerDecision(False, BreakerState.HALF_OPEN, row["probe_until"] - now)
            return BreakerDecision(True, BreakerState.HALF_OPEN, 0.0)

    def bucket_reserve(self, key: str, rate: float, capacity: float, max_wait: float) -> float:
        with self._lock:
            now = self._clock()
            row = self._data.setdefault(key, {"tokens": capacity, "ts": now})
            tokens, ts = row["tokens"], row["ts"]
            if now > ts:
                tokens, ts = min(capacity, tokens + (now - ts) * rate), now
            wait = ts - now + (max(0.0, 1 - tokens) / rate)
            if wait > max_wait:
                return -wait
            if tokens >= 1:
                row.update(tokens=tokens - 1, ts=ts)
            else:
                row.update(tokens=0.0, ts=now + wait)
            return wait


_default_store: StateStore | None = None
_store_lock = threading.Lock()


def default_store() -> StateStore:
    """Redis behind the default cache when it is a Redis cache; else the local fallback."""
    global _default_store
    with _store_lock:
        if _default_store is None:
            _default_store = _build_default_store()
        return _default_store


def _build_default_store() -> StateStore:
    cache = settings.CACHES["default"]
    if cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        import redis

        location = cache["LOCATION"]
        url = location[0] if isinstance(location, list | tuple) else location
        return RedisStore(redis.Redis.from_url(url))
    logger.warning(
        "core.resilience: no Redis cache configured (CACHE_URL); circuit breakers and rate "
        "limits are kept per process. Use Redis anywhere but the single-process demo."
    )
    return LocalStore()


# --- the public objects --------------------------------------------------------------------


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown``.

    Half-open lets one probe through (others are refused until it reports or
    ``probe_timeout`` passes); its success closes the circuit, its failure reopens it.
    Instances are cheap: the state is in the store under ``name``, shared by every process.
    """

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 5,
        cooldown: float = 60.0,
        probe_timeout: float = 30.0,
        store: StateStore | None = None,
    ) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("threshold must be >= 1 and cooldown > 0")
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self.probe_timeout = probe_timeout
        self._store = store or default_store()
        self._key = f"{KEY_PREFIX}:breaker:{name}"
        # Forget an idle breaker after a while; an open one outlives its cool-down.
        self._ttl = int(max(cooldown * 10, 3600))

    def allow(self) -> BreakerDecision:
        """Ask before calling; an allowed call must be followed by ``success``/``failure``."""
        return self._store.breaker_allow(self._key, self.cooldown, self.probe_timeout)

    def success(self) -> BreakerState:
        return self._store.breaker_success(self._key)

    def failure(self) -> BreakerState:
        return self._store.breaker_failure(self._key, self.threshold, self._ttl)

    def reset(self) -> BreakerState:
        """Close the circuit now (an operator who knows the other side is healthy again)."""
        return self._store.breaker_success(self._key)

    def peek(self) -> BreakerDecision:
        """What ``allow`` would answer now, without taking the half-open probe."""
        return self._store.breaker_peek(self._key, self.cooldown)

    @property
    def state(self) -> BreakerState:
        """The state a caller would meet now (an open circuit past its cool-down is half-open)."""
        return self.peek().state

    def call(
        self,
        func: Callable[[], T],
        *,
        is_failure: Callable[[BaseException], bool] = lambda exc: True,
    ) -> T:
        """Run ``func`` through the breaker; raises :class:`CircuitOpenError` while open."""
        decision = self.allow()
        if not decision.allowed:
            raise CircuitOpenError(self.name, decision.retry_in)
        try:
            result = func()
        except BaseException as exc:
            if is_failure(exc):
                self.failure()
            raise
        self.success()
        return result


class RateLimiter:
    """Token bucket: ``rate`` tokens per second, bursts up to ``capacity``; shared by name."""

    def __init__(
        self,
        name: str,
        *,
        rate: float,
        capacity: float = 1.0,
        store: StateStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.name = name
        self.rate = rate
        self.capacity = capacity
        self._store = store or default_store()
        self._sleep = sleep
        self._key = f"{KEY_PREFIX}:bucket:{name}"

    def reserve(self, *, max_wait: float) -> float:
        """Take a token; return how long to wait before using it (raise if over ``max_wait``)."""
        wait = self._store.bucket_reserve(self._key, self.rate, self.capacity, max_wait)
        if wait < 0:
            raise RateLimitedError(self.name, -wait)
        return wait

    def acquire(self, *, max_wait: float = 30.0) -> float:
        """Block until a token is ours (at most ``max_wait`` seconds); return the time slept."""
        wait = self.reserve(max_wait=max_wait)
        if wait > 0:
            self._sleep(wait)
        return wait


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 3600.0,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with full jitter (AWS architecture blog): U(0, min(cap, base·2^n)).

    ``attempt`` counts from 0 for the first retry. Full jitter spreads a crowd of retries
    evenly instead of letting them return in synchronised waves.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    return (rng or _rng).uniform(0, ceiling)


_rng = random.SystemRandom()


def retry_call(
    func: Callable[[], T],
    *,
    attempts: int = 3,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    base: float = 0.5,
    cap: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``func`` up to ``attempts`` times, sleeping a full-jitter backoff between tries.

    For work inside a request or a task that may block briefly. Celery tasks that can wait
    longer should rather reschedule themselves with ``countdown=backoff_delay(n)``.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(attempts):
        try:
            return func()
        except retry_on as exc:
            if attempt == attempts - 1:
                raise
            delay = backoff_delay(attempt, base=base, cap=cap, rng=rng)
            logger.info(
                "retrying after %s in %.2fs (attempt %d)", type(exc).__name__, delay, attempt + 1
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
