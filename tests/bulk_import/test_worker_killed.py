"""A real ``celery worker`` SIGKILLed in the middle of a 500,000-row import.

The broker keeps its default visibility timeout (2 h): the killed worker's message stays
unacknowledged in Redis all through this test, so the recovery cannot come from it. It
comes from the job's lease: the dead worker stops renewing it, beat's jobs sweep sends
the task again once it lapsed, and a new worker's claim resumes the import from the
checkpoint the last committed batch left in the job. The table must then hold every row
of the file exactly once, and the job must have counted each once.

The lease and the sweep interval are short here (seconds) so the test does not wait for
the production defaults; everything else is as deployed: separate worker and beat
processes, a Redis of this test's own (tests.core.private_redis), the test database.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files import File
from django.db import connection

from accounts.models import Hospital
from audit.models import AuditEvent
from bulk_import.import_services import hospital_import_start
from bulk_import.importer import IMPORT_BATCH_ROWS
from core.broker import wait_for_queued_publishes
from core.models import Job, OutboxEvent
from tests.bulk_import.csvs import HEADER, hospital_row, write_many_hospitals
from tests.factories import StaffFactory

ROWS = 500_000
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VISIBILITY_TIMEOUT = 2 * 3600
RECOVERY_BUDGET_SECONDS = 180


def service_env(broker_url: str) -> dict[str, str]:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        # Seconds instead of the defaults (90 s lease, 30 s sweep, 60 s re-send delay).
        "JOB_LEASE_SECONDS": "3",
        "JOB_SWEEP_INTERVAL_SECONDS": "1",
        "JOB_REQUEUE_AFTER_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }
    for name in (
        "CELERY_VISIBILITY_TIMEOUT_SECONDS",
        "CELERY_UNACKED_RESTORE_INTERVAL",
        "CELERY_UNACKED_RESTORE_THROTTLE",
    ):
        env.pop(name, None)  # the broker's own redelivery stays at its production default
    return env


def start_celery(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).with_name("celery")), "-A", "config", *args]
    handle = log.open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=handle)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # solo: the import runs in the worker's main process, so SIGKILL really stops it
    return start_celery(
        ["worker", "--pool=solo", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel=WARNING"],
        env, log,
    )  # fmt: skip


def start_beat(env: dict[str, str], log: Path, workdir: Path) -> subprocess.Popen[bytes]:
    return start_celery(
        ["beat", "--scheduler", "celery.beat:PersistentScheduler",
         "--schedule", str(workdir / "beat-schedule"), "--loglevel=WARNING"],
        env, log,
    )  # fmt: skip


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_for(condition, *, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def committed_batches(job_id) -> int:
    result = Job.objects.get(id=job_id).result or {}
    return int(result.get("checkpoint", {}).get("batches", 0))


def table_digest() -> tuple[int, int, str]:
    """Row count, distinct codes, and an MD5 of every row in code order (in PostgreSQL)."""
    columns = ", ".join(HEADER)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(DISTINCT code), "
            f"md5(string_agg(concat_ws(',', {columns}), E'\\n' ORDER BY code)) "
            f"FROM {Hospital._meta.db_table}"
        )
        count, codes, digest = cursor.fetchone()
    return count, codes, digest


def file_digest(rows: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    digest.update("\n".join(",".join(hospital_row(i)) for i in range(rows)).encode())
    return digest.hexdigest()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_import_survives_a_killed_worker(tmp_path, private_redis):
    # given a 500,000-row file accepted as an import job, queued on the broker, whose
    # visibility timeout is the production default
    env = service_env(private_redis.url)
    assert "CELERY_VISIBILITY_TIMEOUT_SECONDS" not in env
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == (
        DEFAULT_VISIBILITY_TIMEOUT
    )
    path = tmp_path / "directory.csv"
    write_many_hospitals(path, ROWS)
    with path.open("rb") as handle:
        job = hospital_import_start(user=StaffFactory(), upload=File(handle, name=path.name))
    assert wait_for_queued_publishes()
    log = tmp_path / "celery.log"
    beat = start_beat(env, log, tmp_path)
    try:
        # when a worker has committed some batches, and is killed with SIGKILL
        first = start_worker(env, log)
        try:
            wait_for(
                lambda: committed_batches(job.id) >= 10, timeout=120, what="ten batches", log=log
            )
        finally:
            stop(first, signal.SIGKILL)

        # then the job is unfinished and the table holds whole batches only
        killed = Job.objects.get(id=job.id)
        assert killed.status == Job.Status.RUNNING, log.read_text()[-3000:]
        assert killed.attempt == 1
        in_table = Hospital.objects.count()
        assert 0 < in_table < ROWS
        assert in_table == committed_batches(job.id) * IMPORT_BATCH_ROWS

        # when a new worker starts (the dead one's message is still held by the broker)
        started = time.monotonic()
        second = start_worker(env, log)
        try:
            wait_for(
                lambda: Job.objects.get(id=job.id).status in Job.FINISHED_STATUSES,
                timeout=RECOVERY_BUDGET_SECONDS,
                what="the job to finish",
                log=log,
            )
            recovered_in = time.monotonic() - started
        finally:
            stop(second)
    finally:
        stop(beat)

    # then the import finished within the budget, resumed once by a second claim
    done = Job.objects.get(id=job.id)
    assert done.status == Job.Status.SUCCEEDED, (done.errors, log.read_text()[-3000:])
    assert recovered_in < RECOVERY_BUDGET_SECONDS
    assert (done.attempt, done.lapses) == (2, 1)
    # and it counted every row once
    assert done.progress == 100
    assert {k: done.result[k] for k in ("rows", "created", "updated", "unchanged", "rejected")} == {
        "rows": ROWS, "created": ROWS, "updated": 0, "unchanged": 0, "rejected": 0,
    }  # fmt: skip
    # and the table holds every row of the file exactly once
    assert table_digest() == (ROWS, ROWS, file_digest(ROWS))
    # and the completion was recorded once
    assert OutboxEvent.objects.filter(name="import.completed").count() == 1
    assert AuditEvent.objects.filter(action="hospital_import.complete").count() == 1
