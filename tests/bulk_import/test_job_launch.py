"""Imports and directory syncs are launched jobs: a lost publish is re-sent by the jobs
sweep, and a run that raises ends failed with its code (core.jobs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.files import File
from django.utils import timezone

from bulk_import.directory_sync_services import SYNC_TASK, directory_sync_start
from bulk_import.import_services import IMPORT_TASK, hospital_import_run, hospital_import_start
from bulk_import.importer import HospitalImport
from core import jobs
from core.jobs import jobs_sweep_stalled
from core.models import Job
from tests.bulk_import.csvs import write_hospital_csv
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch, settings) -> list[tuple[str, tuple]]:
    settings.JOB_REQUEUE_AFTER_SECONDS = 60
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(
        jobs, "send_task_fail_fast", lambda name, args=(), **kw: calls.append((name, args))
    )
    return calls


def started_import(tmp_path) -> Job:
    path = tmp_path / "d.csv"
    write_hospital_csv(path, 3)
    with path.open("rb") as handle:
        return hospital_import_start(user=StaffFactory(), upload=File(handle, name="d.csv"))


def test_an_import_whose_publish_was_lost_is_sent_again(tmp_path, sent):
    # given an import accepted while the broker was down (its publish went nowhere)
    job = started_import(tmp_path)
    assert job.task_name == IMPORT_TASK

    # when the sweep comes round after the re-send delay, then its task is sent again
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        assert jobs_sweep_stalled() == 1
    assert sent == [(IMPORT_TASK, (str(job.id),))]


def test_a_directory_sync_whose_publish_was_lost_is_sent_again(sent):
    job = directory_sync_start(reason="import:test")
    assert job.task_name == SYNC_TASK
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        assert jobs_sweep_stalled() == 1
    assert sent == [(SYNC_TASK, (str(job.id),))]


def test_an_import_that_raises_ends_failed_with_a_code(tmp_path, monkeypatch):
    # given an import whose engine hits a bug
    job = started_import(tmp_path)

    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("a bug")

    monkeypatch.setattr(HospitalImport, "run", broken)

    # when the worker runs it
    with pytest.raises(AttributeError):
        hospital_import_run(job_id=job.id)

    # then the job is failed with import_failed, not left running
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.errors[0]["code"] == "import_failed"
