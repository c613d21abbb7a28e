"""A throwaway redis-server a test may stop and restart; the shared one stays up.

Tests that take the broker away, or kill a worker holding a message, use their own
server on a free loopback port, so no other test (or xdist process) sharing the Redis of
CELERY_BROKER_URL sees the outage or the messages left behind.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Gone at once, its queues with it (no persistence), as when Redis is lost."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(7) == b"+PONG\r\n"
        except OSError:
            return False


@pytest.fixture
def private_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    """A private Redis as the broker of this process (Celery reads CELERY_BROKER_URL from
    the environment before its own setting)."""
    if shutil.which("redis-server") is None:
        if REQUIRE_SERVICES:
            pytest.fail("CAREBOOK_REQUIRE_SERVICES=1 but the redis-server binary is missing")
        pytest.skip("needs the redis-server binary")
    redis = PrivateRedis(tmp_path)
    redis.start()
    monkeypatch.setenv("CELERY_BROKER_URL", redis.url)
    yield redis
    if redis.process is not None:
        redis.stop()
