"""External directory sync against a real HTTP server on 127.0.0.1 that throttles and fails.

Nothing is mocked: the client speaks HTTP to a ThreadingHTTPServer in a thread, with the
shared token bucket, circuit breaker and backoff of core.resilience. The test that waits
out the breaker's cool-down keeps them in this process on a clock it moves (tests/clocks.py).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import REGISTRY, generate_latest

from bulk_import.directory_client import directory_breaker, directory_client_from_settings
from bulk_import.directory_sync_services import (
    directory_sync_run,
    directory_sync_start,
    hospital_directory_payload,
    hospitals_pending_sync,
)
from bulk_import.models import DirectorySyncState
from core.models import Job
from core.resilience import BreakerState
from tests.clocks import resilience_on_stepping_clock
from tests.factories import HospitalFactory

pytestmark = pytest.mark.django_db

RATE = 10.0  # requests per second: at least 100 ms apart
COOLDOWN = 60.0  # the clock is moved past it, so no loaded machine half-opens it by itself
JITTER = 0.03  # arrival-time noise of a new connection on a busy 2-core machine


class FlakyDirectory:
    """Answers each PUT from a script, then 200; records what arrived and when."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[tuple[float, str, str]] = []  # (time, code, answer)
        self.directory: dict[str, dict] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                code = self.path.rsplit("/", 1)[-1]
                with owner.lock:
                    answer = owner.script.pop(0) if owner.script else "200"
                    owner.requests.append((time.monotonic(), code, answer))
                    assert self.headers["Authorization"] == "Bearer test-token"
                if answer == "slow":  # the request arrives, the answer comes too late
                    time.sleep(0.6)
                    answer = "200"
                if answer == "200":
                    with owner.lock:
                        owner.directory[code] = body
                self.send_response(int(answer))
                if answer == "429":
                    self.send_header("Retry-After", "0.2")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

            def handle(self):
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sync_settings(settings):
    settings.DIRECTORY_SYNC_TOKEN = "test-token"
    settings.DIRECTORY_SYNC_RATE_PER_SECOND = RATE
    settings.DIRECTORY_SYNC_BURST = 1
    settings.DIRECTORY_SYNC_TIMEOUT_SECONDS = 0.3
    settings.DIRECTORY_SYNC_MAX_ATTEMPTS = 5
    settings.DIRECTORY_SYNC_BACKOFF_BASE_SECONDS = 0.05
    settings.DIRECTORY_SYNC_BREAKER_THRESHOLD = 3
    settings.DIRECTORY_SYNC_BREAKER_COOLDOWN_SECONDS = COOLDOWN
    directory_breaker().success()  # start closed, whatever an earlier test left
    return settings


def circuit_metric() -> float | None:
    for line in generate_latest(REGISTRY).decode().splitlines():
        if line.startswith("directory_sync_circuit_state "):
            return float(line.split()[1])
    return None


def test_throttled_failing_directory_gets_every_hospital_once_it_recovers(
    sync_settings, monkeypatch
):
    # given six hospitals and a directory that throttles, answers late, then fails
    clock = resilience_on_stepping_clock(monkeypatch)
    hospitals = [HospitalFactory() for _ in range(6)]
    script = ["429", "200", "slow", "200", "503", "503", "503"]
    with FlakyDirectory(script) as server:
        sync_settings.DIRECTORY_SYNC_URL = server.url
        job = directory_sync_start(reason="test")

        # when the sync runs
        job = directory_sync_run(job_id=job.id)

        # then two hospitals went through, and three 503s in a row opened the circuit
        assert job.status == Job.Status.RUNNING
        assert job.result["synced"] == 2
        assert job.result["pending"] == 4
        assert job.result["breaker_state"] == "open"
        assert job.result["stopped_by"] == "CircuitOpenError"
        assert 0 < job.result["retry_in_seconds"] <= COOLDOWN + 1
        assert circuit_metric() == 2.0
        calls_when_opened = len(server.requests)
        assert calls_when_opened == 7

        # and while open, a run fails fast without calling the directory
        job = directory_sync_run(job_id=job.id)
        assert len(server.requests) == calls_when_opened
        assert job.result["breaker_state"] == "open"

        # when the cool-down has passed the circuit is half-open
        clock.advance(COOLDOWN)
        assert directory_breaker().state == BreakerState.HALF_OPEN
        assert circuit_metric() == 1.0

        # and the next run's probe succeeds, closes it, and syncs everything left
        job = directory_sync_run(job_id=job.id)

    assert job.status == Job.Status.SUCCEEDED
    assert job.result["synced"] == 6
    assert job.result["pending"] == 0
    assert job.result["breaker_state"] == "closed"
    assert circuit_metric() == 0.0
    assert not hospitals_pending_sync().exists()
    assert DirectorySyncState.objects.count() == 6

    # nothing lost, nothing duplicated: one entry per hospital, equal to its data,
    # although the late-answered PUT arrived twice
    assert server.directory == {h.code: hospital_directory_payload(h) for h in hospitals}
    codes = [code for _, code, _ in server.requests]
    assert codes.count(hospitals[1].code) == 2
    assert len(server.requests) == calls_when_opened + 4

    # the rate limit held: any n+1 requests were let go at least n/RATE seconds apart
    # (less JITTER), measured where the limiter decides, just before each send
    granted = [a["granted_at"] for a in job.result["last_attempts"]]
    assert len(granted) == len(server.requests)
    for i, j in itertools.combinations(range(len(granted)), 2):
        assert granted[j] - granted[i] >= (j - i) / RATE - JITTER, (i, j)
    # and at the server too. A request let go on time can still arrive late on a busy
    # machine (CI saw one 66 ms late), shortening only the gap after it, so any n+1
    # arrivals span at least n-1 intervals: far from a burst, which arrives ~0 s apart.
    times = [t for t, _, _ in server.requests]
    for i, j in itertools.combinations(range(len(times)), 2):
        assert times[j] - times[i] >= (j - i - 1) / RATE, (i, j)

    # retries backed off: 429's Retry-After honoured, then exponential ceilings with jitter
    assert times[1] - times[0] >= 0.2 - JITTER
    failed = [t for t, code, _ in server.requests if code == hospitals[2].code][:3]
    attempts = [a for a in job.result["last_attempts"] if a["code"] == hospitals[2].code]
    assert [a["backoff_ceiling"] for a in attempts[:3]] == [0.05, 0.1, 0.2]
    for attempt, (before, after) in zip(attempts, itertools.pairwise(failed), strict=False):
        assert attempt["backoff"] <= attempt["backoff_ceiling"]
        assert after - before >= attempt["backoff"] - JITTER


def test_a_hospital_the_directory_refuses_is_reported_not_retried_forever(sync_settings):
    hospital = HospitalFactory()
    with FlakyDirectory(["422"]) as server:
        sync_settings.DIRECTORY_SYNC_URL = server.url
        job = directory_sync_run(job_id=directory_sync_start(reason="t2").id)

    assert job.status == Job.Status.SUCCEEDED
    assert job.result["rejected"] == 1
    assert job.errors == [{"code": hospital.code, "message": "refused: rejected:422"}]
    assert len(server.requests) == 1
    assert not hospitals_pending_sync().exists()


def test_settings_build_the_client(sync_settings):
    sync_settings.DIRECTORY_SYNC_URL = "http://127.0.0.1:9"
    client = directory_client_from_settings()
    assert client.limiter.rate == RATE
    assert client.breaker.threshold == 3
