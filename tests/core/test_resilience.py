"""core.resilience: breaker states, token-bucket spacing, backoff bounds, on both stores.

The local store runs on a hand-driven clock; the Redis store runs on Redis' own clock with
short cool-downs, and is shown to be shared by separate OS processes.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from core.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    LocalStore,
    RateLimitedError,
    RateLimiter,
    RedisStore,
    backoff_delay,
    retry_call,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def redis_url() -> str:
    cache = settings.CACHES["default"]
    if cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        return cache["LOCATION"]
    return settings.CELERY_BROKER_URL


@pytest.fixture
def redis_store() -> RedisStore:
    import redis

    return RedisStore(redis.Redis.from_url(redis_url()))


def unique(name: str) -> str:
    return f"test-{name}-{uuid.uuid4().hex}"


class Boom(Exception):
    pass


def fail() -> None:
    raise Boom


# --- circuit breaker, local store with a fake clock ---------------------------------------


def test_breaker_opens_after_threshold_consecutive_failures():
    # given a breaker with threshold 3
    clock = FakeClock()
    breaker = CircuitBreaker(unique("b"), threshold=3, cooldown=30, store=LocalStore(clock))

    # when two calls fail, it stays closed; the third failure opens it
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert breaker.state is BreakerState.CLOSED
    with pytest.raises(Boom):
        breaker.call(fail)

    # then it is open and refuses calls without running them
    assert breaker.state is BreakerState.OPEN
    ran = []
    with pytest.raises(CircuitOpenError) as refused:
        breaker.call(lambda: ran.append(1))
    assert ran == []
    assert refused.value.retry_in == pytest.approx(30)


def test_success_resets_the_consecutive_failure_count():
    clock = FakeClock()
    breaker = CircuitBreaker(unique("b"), threshold=2, cooldown=30, store=LocalStore(clock))

    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.call(lambda: "ok") == "ok"
    with pytest.raises(Boom):
        breaker.call(fail)

    assert breaker.state is BreakerState.CLOSED


def test_breaker_half_opens_after_cooldown_and_closes_on_success():
    # given an open breaker
    clock = FakeClock()
    breaker = CircuitBreaker(unique("b"), threshold=1, cooldown=30, store=LocalStore(clock))
    with pytest.raises(Boom):
        breaker.call(fail)
    clock.advance(29.9)
    assert not breaker.allow().allowed

    # when the cool-down has passed
    clock.advance(0.2)
    assert breaker.state is BreakerState.HALF_OPEN
    probe = breaker.allow()

    # then exactly one probe goes through; others wait for its verdict
    assert probe.allowed
    assert probe.state is BreakerState.HALF_OPEN
    assert not breaker.allow().allowed
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow().allowed


def test_half_open_probe_failure_reopens_for_a_full_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker(unique("b"), threshold=2, cooldown=30, store=LocalStore(clock))
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail)
    clock.advance(31)

    with pytest.raises(Boom):
        breaker.call(fail)  # the probe

    assert breaker.state is BreakerState.OPEN
    decision = breaker.allow()
    assert not decision.allowed
    assert decision.retry_in == pytest.approx(30)


def test_a_probe_that_never_reports_back_is_replaced_after_probe_timeout():
    clock = FakeClock()
    breaker = CircuitBreaker(
        unique("b"), threshold=1, cooldown=10, probe_timeout=5, store=LocalStore(clock)
    )
    with pytest.raises(Boom):
        breaker.call(fail)
    clock.advance(10)
    assert breaker.allow().allowed  # probe taken, worker then dies

    clock.advance(4)
    assert not breaker.allow().allowed
    clock.advance(1.5)
    assert breaker.allow().allowed


def test_peek_reports_without_taking_the_half_open_probe():
    clock = FakeClock()
    breaker = CircuitBreaker(unique("b"), threshold=1, cooldown=10, store=LocalStore(clock))
    breaker.failure()
    assert breaker.peek().retry_in == pytest.approx(10)
    clock.advance(10)

    for _ in range(3):
        assert breaker.peek().allowed

    assert breaker.allow().allowed  # the probe was still there to take
    assert not breaker.peek().allowed


def test_reset_closes_an_open_circuit():
    breaker = CircuitBreaker(unique("b"), threshold=1, cooldown=60, store=LocalStore(FakeClock()))
    breaker.failure()
    assert breaker.state is BreakerState.OPEN

    assert breaker.reset() is BreakerState.CLOSED

    assert breaker.allow().allowed


def test_exceptions_that_are_not_failures_do_not_count():
    breaker = CircuitBreaker(unique("b"), threshold=1, cooldown=10, store=LocalStore(FakeClock()))

    with pytest.raises(KeyError):
        breaker.call(lambda: {}["x"], is_failure=lambda exc: not isinstance(exc, KeyError))

    assert breaker.state is BreakerState.CLOSED


def test_breaker_refuses_nonsense_configuration():
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker("x", threshold=0, store=LocalStore())


# --- circuit breaker on Redis: same semantics, shared across processes --------------------


@pytest.mark.redis
def test_redis_breaker_full_cycle(redis_store):
    # given a Redis-backed breaker with a 1 s cool-down
    breaker = CircuitBreaker(unique("rb"), threshold=2, cooldown=1.0, store=redis_store)
    assert breaker.state is BreakerState.CLOSED

    # when it fails twice it opens and refuses
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert breaker.state is BreakerState.OPEN
    decision = breaker.allow()
    assert not decision.allowed
    assert 0 < decision.retry_in <= 1.0

    # then after the cool-down one probe passes, and a failing probe reopens it (a real
    # wait: this store's clock is the Redis server's TIME, which no test clock reaches)
    time.sleep(1.05)
    assert breaker.peek().allowed
    assert breaker.allow().allowed
    assert breaker.peek().state is BreakerState.HALF_OPEN
    assert not breaker.allow().allowed
    assert breaker.failure() is BreakerState.OPEN
    assert not breaker.allow().allowed

    # and after another cool-down a successful probe closes it
    time.sleep(1.05)
    assert breaker.call(lambda: 42) == 42
    assert breaker.state is BreakerState.CLOSED


CHILD = """
import sys, redis
from core.resilience import CircuitBreaker, RedisStore
store = RedisStore(redis.Redis.from_url(sys.argv[1]))
breaker = CircuitBreaker(sys.argv[2], threshold=3, cooldown=60, store=store)
for _ in range(3):
    breaker.failure()
print(breaker.state.value)
"""


@pytest.mark.redis
def test_redis_breaker_state_is_shared_between_processes(redis_store):
    # given a breaker name, and failures recorded by ANOTHER operating-system process
    name = unique("shared")
    child = subprocess.run(
        [sys.executable, "-c", CHILD, redis_url(), name],
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )
    assert child.stdout.strip() == "open"

    # when this process asks the breaker of the same name
    breaker = CircuitBreaker(name, threshold=3, cooldown=60, store=redis_store)

    # then it sees the circuit open and refuses
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow().allowed


# --- token bucket -------------------------------------------------------------------------


def test_local_bucket_allows_a_burst_then_spaces_tokens():
    clock = FakeClock()
    limiter = RateLimiter(unique("l"), rate=2, capacity=2, store=LocalStore(clock))

    waits = [limiter.reserve(max_wait=10) for _ in range(4)]

    assert waits == pytest.approx([0, 0, 0.5, 1.0])


def test_local_bucket_refills_at_rate_up_to_capacity():
    clock = FakeClock()
    limiter = RateLimiter(unique("l"), rate=1, capacity=3, store=LocalStore(clock))
    for _ in range(3):
        limiter.reserve(max_wait=0)

    clock.advance(100)  # would be 100 tokens without the cap

    assert [limiter.reserve(max_wait=0) for _ in range(3)] == [0, 0, 0]
    with pytest.raises(RateLimitedError) as limited:
        limiter.reserve(max_wait=0)
    assert limited.value.retry_in == pytest.approx(1)


def test_a_caller_that_will_not_wait_takes_no_token():
    clock = FakeClock()
    limiter = RateLimiter(unique("l"), rate=1, capacity=1, store=LocalStore(clock))
    limiter.reserve(max_wait=0)

    with pytest.raises(RateLimitedError):
        limiter.reserve(max_wait=0.5)
    clock.advance(1)

    assert limiter.reserve(max_wait=0) == 0


def test_acquire_sleeps_the_reserved_wait():
    clock = FakeClock()
    slept: list[float] = []
    limiter = RateLimiter(
        unique("l"), rate=4, capacity=1, store=LocalStore(clock), sleep=slept.append
    )

    limiter.acquire()
    limiter.acquire()

    assert slept == [pytest.approx(0.25)]


@pytest.mark.redis
def test_redis_limiter_spacing_measured_in_real_time(redis_store):
    # given 10 calls per second, no burst
    limiter = RateLimiter(unique("rl"), rate=10, capacity=1, store=redis_store)

    # when six calls acquire one after another
    started = time.monotonic()
    waits = [limiter.acquire(max_wait=5) for _ in range(6)]
    elapsed = time.monotonic() - started

    # then the first went at once and the other five waited their turn: >= 0.5 s in all
    # (a lower bound on elapsed time holds however loaded the machine is)
    assert waits[0] == 0
    assert elapsed >= 0.48
    assert sum(waits) >= 0.4


CHILD_TAKING_TOKENS = """
import sys, redis
from core.resilience import RateLimitedError, RateLimiter, RedisStore
limiter = RateLimiter(sys.argv[2], rate=0.01, capacity=3,
                      store=RedisStore(redis.Redis.from_url(sys.argv[1])))
taken = 0
for _ in range(5):
    try:
        limiter.reserve(max_wait=0)
        taken += 1
    except RateLimitedError:
        pass
print(taken)
"""


@pytest.mark.redis
def test_redis_limiter_budget_is_shared_between_processes():
    # given a bucket of 3 tokens that refills once per 100 s, and two processes
    name = unique("rl-shared")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD_TAKING_TOKENS, redis_url(), name],
            stdout=subprocess.PIPE,
            text=True,
            cwd=settings.BASE_DIR,
        )
        for _ in range(2)
    ]

    # when each tries to take 5 tokens without waiting
    taken = [int(child.communicate(timeout=60)[0]) for child in children]

    # then together they got 3, not 3 each
    assert sum(taken) == 3


# --- backoff and retry --------------------------------------------------------------------


def test_backoff_full_jitter_stays_within_the_exponential_ceiling():
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(60.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, base=0.5, cap=60, rng=rng) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in delays)
        # full jitter really spreads: the samples cover most of [0, ceiling]
        assert min(delays) < 0.1 * ceiling
        assert max(delays) > 0.9 * ceiling


def test_backoff_is_capped_even_for_huge_attempt_numbers():
    assert backoff_delay(10_000, base=1, cap=5, rng=random.Random(1)) <= 5
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(-1)


def test_retry_call_retries_then_succeeds_with_backoff_sleeps():
    calls = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "up"

    result = retry_call(
        flaky, attempts=5, retry_on=(ConnectionError,), base=1, cap=8, sleep=slept.append
    )

    assert result == "up"
    assert len(calls) == 3
    assert len(slept) == 2
    assert 0 <= slept[0] <= 1
    assert 0 <= slept[1] <= 2


def test_retry_call_gives_up_after_attempts_and_does_not_retry_other_errors():
    slept: list[float] = []
    with pytest.raises(ConnectionError):
        retry_call(lambda: fail_with(ConnectionError()), attempts=3, sleep=slept.append)
    assert len(slept) == 2

    calls = []
    with pytest.raises(ValueError, match="bad"):
        retry_call(
            lambda: calls.append(1) or fail_with(ValueError("bad")),
            retry_on=(ConnectionError,),
            sleep=slept.append,
        )
    assert len(calls) == 1


def fail_with(exc: BaseException) -> None:
    raise exc
