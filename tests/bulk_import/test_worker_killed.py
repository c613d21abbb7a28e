"""A real ``celery worker`` killed (SIGKILL) in the middle of a 100,000-row import.

The task is acks_late: its message stays un-acknowledged in Redis, comes back after the
visibility timeout, and a new worker resumes from the checkpoint the last committed batch
left in the job. The table must then hold exactly the file's rows.
"""

from __future__ import annotations

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
from bulk_import.importer import IMPORT_BATCH_ROWS
from bulk_import.services import hospital_import_start
from config.celery import app
from core.models import Job
from tests.bulk_import.csvs import HEADER, hospital_row, write_hospital_csv
from tests.factories import StaffFactory

ROWS = 100_000
ROOT = Path(__file__).resolve().parents[2]


def start_worker(log: Path) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        # Let the next worker take back the dead worker's message within seconds.
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": "5",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "LOG_LEVEL": "WARNING",
    }
    if db.get("PASSWORD"):
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(
            f"{db['USER']}@", f"{db['USER']}:{db['PASSWORD']}@"
        )
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=WARNING",
    ]
    handle = log.open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=handle)


def wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def committed_batches(job_id) -> int:
    result = Job.objects.get(id=job_id).result or {}
    return int(result.get("checkpoint", {}).get("batches", 0))


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_import_survives_a_killed_worker(tmp_path):
    # given a 100,000-row file accepted as an import job (queued in Redis)
    app.control.purge()
    path = tmp_path / "directory.csv"
    write_hospital_csv(path, ROWS)
    with path.open("rb") as handle:
        job = hospital_import_start(user=StaffFactory(), upload=File(handle, name=path.name))
    log = tmp_path / "worker.log"

    # when a worker has committed some batches, and is killed with SIGKILL
    first = start_worker(log)
    try:
        wait_for(lambda: committed_batches(job.id) >= 2, timeout=120, what="two batches")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

    # then the job is unfinished and the table holds whole batches only
    killed = Job.objects.get(id=job.id)
    assert killed.status == Job.Status.RUNNING, log.read_text()[-3000:]
    in_table = Hospital.objects.count()
    assert 0 < in_table < ROWS
    assert in_table % IMPORT_BATCH_ROWS == 0
    assert in_table == committed_batches(job.id) * IMPORT_BATCH_ROWS

    # when a new worker starts, the message is delivered again and the import resumes
    second = start_worker(log)
    try:
        wait_for(
            lambda: Job.objects.get(id=job.id).status in Job.FINISHED_STATUSES,
            timeout=180,
            what="the job to finish",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)

    # then the job succeeded, counted every row once, and the table is exactly the file
    done = Job.objects.get(id=job.id)
    assert done.status == Job.Status.SUCCEEDED, (done.errors, log.read_text()[-3000:])
    assert done.result["created"] == ROWS
    assert done.result["rows"] == ROWS
    assert done.result["rejected"] == 0
    rows = [
        tuple(str(v) for v in values)
        for values in Hospital.objects.order_by("code").values_list(*HEADER)
    ]
    assert rows == [hospital_row(i) for i in range(ROWS)]
