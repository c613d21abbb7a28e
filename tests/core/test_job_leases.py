"""Launched jobs: claims under a lease, fencing by attempt, and the sweep that re-sends
jobs left queued or whose worker's lease lapsed (core.jobs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from core import jobs
from core.jobs import (
    LEASE_LAPSED,
    LeaseLost,
    job_claim,
    job_execute,
    job_launch,
    job_release,
    job_succeed,
    jobs_sweep_stalled,
)
from core.models import Job
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

KIND = "test_work"
TASK = "tests.work"


@pytest.fixture(autouse=True)
def _lease_settings(settings):
    settings.JOB_LEASE_SECONDS = 60
    settings.JOB_REQUEUE_AFTER_SECONDS = 60
    settings.JOB_MAX_LAPSES = 3


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple]]:
    """What the sweep hands to the broker (task name and arguments)."""
    calls: list[tuple[str, tuple]] = []
    monkeypatch.setattr(
        jobs, "send_task_fail_fast", lambda name, args=(), **kw: calls.append((name, args))
    )
    return calls


def launched(**kwargs) -> Job:
    job, created = job_launch(kind=KIND, task_name=TASK, requested_by=StaffFactory(), **kwargs)
    assert created
    return job


def test_launch_sends_the_task_only_after_commit(monkeypatch, django_capture_on_commit_callbacks):
    published: list[tuple[str, tuple]] = []
    monkeypatch.setattr(jobs, "send_task_soon", lambda name, args: published.append((name, args)))
    user = StaffFactory()

    # when a job is launched in a transaction that then rolls back
    def launch_then_fail() -> None:
        with transaction.atomic():
            job_launch(kind=KIND, task_name=TASK, requested_by=user)
            raise RuntimeError("the rest of the change failed")

    with pytest.raises(RuntimeError):
        launch_then_fail()
    # then nothing was published and no job exists
    assert published == []
    assert not Job.objects.exists()

    # when it commits, then its task is published with the job's id
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = job_launch(kind=KIND, task_name=TASK, requested_by=user)
        assert published == []
    assert published == [(TASK, (str(job.id),))]
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    assert job.task_name == TASK
    assert job.dispatched_at is not None


class TestClaim:
    def test_one_claim_at_a_time_and_a_lapsed_lease_is_taken_over(self):
        job = launched()
        with time_machine.travel(timezone.now(), tick=False) as clock:
            # given a first worker's claim
            first = job_claim(job_id=job.id, kind=KIND)
            assert first is not None
            # then a second delivery cannot claim it while the lease is live
            clock.shift(timedelta(seconds=59))
            assert job_claim(job_id=job.id, kind=KIND) is None

            # when the first worker stops renewing and its lease lapses
            clock.shift(timedelta(seconds=2))
            second = job_claim(job_id=job.id, kind=KIND)

        # then the next claim resumes it under a new attempt, counting the lapse
        assert second is not None
        assert (first.attempt, second.attempt) == (1, 2)
        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING
        assert (job.attempt, job.lapses) == (2, 1)

    def test_renewing_keeps_the_claim(self):
        job = launched()
        with time_machine.travel(timezone.now(), tick=False) as clock:
            lease = job_claim(job_id=job.id, kind=KIND)
            assert lease is not None
            for _ in range(5):  # five minutes of work, renewed every 40 s
                clock.shift(timedelta(seconds=40))
                lease.renew(force=True)
                assert job_claim(job_id=job.id, kind=KIND) is None
        job.refresh_from_db()
        assert (job.attempt, job.lapses) == (1, 0)

    def test_a_late_worker_cannot_write_over_its_successor(self):
        # given a worker whose lease lapsed and whose job another worker claimed
        job = launched()
        with time_machine.travel(timezone.now(), tick=False) as clock:
            old = job_claim(job_id=job.id, kind=KIND)
            clock.shift(timedelta(seconds=61))
            new = job_claim(job_id=job.id, kind=KIND)
        assert old is not None
        assert new is not None

        # when the late worker wakes up and writes progress or the result
        with pytest.raises(LeaseLost):
            old.update(result={"checkpoint": {"batches": 99}})
        with pytest.raises(LeaseLost):
            old.renew(force=True)
        with pytest.raises(LeaseLost):
            job_succeed(job_id=job.id, result={"by": "old"}, lease=old)

        # then nothing it wrote is there, and the new worker finishes normally
        job.refresh_from_db()
        assert job.result is None
        assert job.status == Job.Status.RUNNING
        done = job_succeed(job_id=job.id, result={"by": "new"}, lease=new)
        assert done.result == {"by": "new"}
        assert done.lease_expires_at is None

    def test_a_finished_job_is_not_claimed(self):
        job = launched()
        lease = job_claim(job_id=job.id, kind=KIND)
        assert lease is not None
        job_succeed(job_id=job.id, result={}, lease=lease)
        assert job_claim(job_id=job.id, kind=KIND) is None

    def test_a_job_whose_workers_keep_dying_ends_failed(self):
        # given a job whose worker is killed on every attempt (never renews)
        job = launched()
        with time_machine.travel(timezone.now(), tick=False) as clock:
            assert job_claim(job_id=job.id, kind=KIND) is not None
            for _ in range(django_settings.JOB_MAX_LAPSES - 1):
                clock.shift(timedelta(seconds=61))
                assert job_claim(job_id=job.id, kind=KIND) is not None
            # when its lease lapses the JOB_MAX_LAPSES-th time
            clock.shift(timedelta(seconds=61))
            assert job_claim(job_id=job.id, kind=KIND) is None

        # then it ends failed with a code, not running forever
        job.refresh_from_db()
        assert job.status == Job.Status.FAILED
        assert job.errors[0]["code"] == LEASE_LAPSED
        assert job.lapses == django_settings.JOB_MAX_LAPSES
        assert job.finished_at is not None

    def test_a_released_job_is_claimed_again_without_a_lapse(self):
        job = launched()
        lease = job_claim(job_id=job.id, kind=KIND)
        assert lease is not None
        waiting = job_release(lease, resume_after=30, result={"pending": 4})
        assert waiting.status == Job.Status.RUNNING
        assert waiting.result == {"pending": 4}

        again = job_claim(job_id=job.id, kind=KIND)

        assert again is not None
        job.refresh_from_db()
        assert (job.attempt, job.lapses) == (2, 0)


class TestExecute:
    def test_work_that_raises_fails_the_job_with_its_code(self):
        # given a job whose work hits a bug
        job = launched()

        def work(job: Job, lease: jobs.JobLease) -> Job:
            raise ZeroDivisionError("division by zero")

        # when the worker runs it, the error propagates (for the task's log)
        with pytest.raises(ZeroDivisionError):
            job_execute(job_id=job.id, kind=KIND, work=work, error_code="work_failed")

        # then the job is failed with the given code, not left running
        job.refresh_from_db()
        assert job.status == Job.Status.FAILED
        assert job.errors == [
            {
                "code": "work_failed",
                "message": "The job stopped on an unexpected error (ZeroDivisionError).",
            }
        ]

    def test_a_second_delivery_returns_the_job_without_running_it(self):
        job = launched()
        runs: list[int] = []

        def work(job: Job, lease: jobs.JobLease) -> Job:
            runs.append(lease.attempt)
            return job_succeed(job_id=job.id, result={"ok": True}, lease=lease)

        first = job_execute(job_id=job.id, kind=KIND, work=work, error_code="work_failed")
        again = job_execute(job_id=job.id, kind=KIND, work=work, error_code="work_failed")

        assert runs == [1]
        assert first.status == again.status == Job.Status.SUCCEEDED


class TestSweep:
    def test_a_job_left_queued_is_sent_again_after_the_requeue_delay(self, sent):
        # given a job whose publish was lost (the broker was down)
        job = launched()
        with time_machine.travel(timezone.now(), tick=False) as clock:
            # then the sweep leaves it alone while its message may still be on its way
            clock.shift(timedelta(seconds=59))
            assert jobs_sweep_stalled() == 0

            # when it has waited JOB_REQUEUE_AFTER_SECONDS, the sweep sends it again
            clock.shift(timedelta(seconds=2))
            assert jobs_sweep_stalled() == 1
            assert sent == [(TASK, (str(job.id),))]

            # and not again at once, only after another delay
            assert jobs_sweep_stalled() == 0
            clock.shift(timedelta(seconds=61))
            assert jobs_sweep_stalled() == 1
        assert len(sent) == 2

    def test_a_running_job_is_sent_again_once_its_lease_lapsed(self, sent):
        job = launched()
        with time_machine.travel(timezone.now(), tick=False) as clock:
            clock.shift(timedelta(seconds=120))
            lease = job_claim(job_id=job.id, kind=KIND)
            assert lease is not None
            # given a worker that renews: never swept
            clock.shift(timedelta(seconds=50))
            lease.renew(force=True)
            clock.shift(timedelta(seconds=50))
            assert jobs_sweep_stalled() == 0

            # when the worker dies and its lease lapses, then the sweep sends the task again
            clock.shift(timedelta(seconds=11))
            assert jobs_sweep_stalled() == 1
            assert sent == [(TASK, (str(job.id),))]
            # and the next claim resumes it
            assert job_claim(job_id=job.id, kind=KIND) is not None

    def test_finished_jobs_and_jobs_no_task_runs_are_left_alone(self, sent):
        finished = launched()
        lease = job_claim(job_id=finished.id, kind=KIND)
        assert lease is not None
        job_succeed(job_id=finished.id, result={}, lease=lease)
        Job.objects.create(kind="in_process")  # e.g. job_run's, done inside a transaction
        with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
            assert jobs_sweep_stalled() == 0
        assert sent == []

    def test_a_released_job_is_sent_again_when_its_retry_is_overdue(self, sent):
        job = launched()
        with time_machine.travel(timezone.now(), tick=False) as clock:
            lease = job_claim(job_id=job.id, kind=KIND)
            assert lease is not None
            job_release(lease, resume_after=30)
            # its own retry is due in 30 s: the sweep waits for it, then a requeue delay
            clock.shift(timedelta(seconds=89))
            assert jobs_sweep_stalled() == 0
            clock.shift(timedelta(seconds=2))
            assert jobs_sweep_stalled() == 1
        assert sent == [(TASK, (str(job.id),))]


def test_beat_runs_the_sweeps():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert schedule["job-sweep"] == {
        "task": "core.jobs_sweep",
        "schedule": django_settings.JOB_SWEEP_INTERVAL_SECONDS,
    }
    assert schedule["idempotency-purge"]["task"] == "core.idempotency_purge"
    from core.tasks import idempotency_purge, jobs_sweep

    assert jobs_sweep.name == "core.jobs_sweep"
    assert idempotency_purge.name == "core.idempotency_purge"
