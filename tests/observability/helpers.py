"""A real Celery worker process for the observability tests, and log-line helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lines_with(records: list[dict], **fields) -> list[dict]:
    return [r for r in records if all(r.get(k) == v for k, v in fields.items())]


def wait_for(predicate, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class WorkerProcess:
    """``celery -A config worker`` as its own process; its stderr read line by line."""

    def __init__(self, *, pool: str = "solo", env: dict[str, str] | None = None) -> None:
        # A queue of its own: no other worker (another test, another xdist process)
        # takes this worker's tasks, and it takes no one else's.
        self.queue = f"carebook-observability-{uuid.uuid4().hex}"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", **(env or {})}
        env.pop("LOG_FORMAT", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "--quiet",
                "worker",
                f"--pool={pool}",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--queues={self.queue}",
                "--include=tests.observability.tasks",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def records(self) -> list[dict]:
        return [json.loads(line) for line in list(self.lines)]

    def is_ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited: {self.lines}")
        return any("ready" in r["event"] for r in self.records())

    def task_lines(self, task_id: str) -> list[dict]:
        """The task's lines, once the worker has logged its success."""
        wait_for(lambda: lines_with(self.records(), event="task_succeeded", task_id=task_id))
        return lines_with(self.records(), task_id=task_id)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=5)
