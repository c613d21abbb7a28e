"""Report jobs survive the broker and their own failures; their keys bind the parameters."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import cast

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from config.celery import app as celery_app
from core.broker import send_task_fail_fast, wait_for_queued_publishes
from core.models import Job
from reports import services
from reports.services import report_build
from tests.factories import DoctorFactory

URL = "/api/v1/reports/"
BODY = {"kind": "caseload", "from": "2026-03-01", "to": "2026-03-31", "format": "csv"}


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def doctor_client() -> APIClient:
    """Authenticated without a JWT, whose 15-minute lifetime would end under time travel."""
    client = APIClient()
    client.force_authenticate(cast(User, DoctorFactory()))
    return client


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_report_requested_while_redis_is_down_is_built_once_it_is_back(
    doctor_client, private_redis, settings
):
    # given the broker (a Redis of this test's own) is down
    private_redis.stop()

    # when a clinician requests a report
    started = time.monotonic()
    response = doctor_client.post(URL, BODY, format="json")
    elapsed = time.monotonic() - started

    # then the API still answers 202 at once, and the job waits, queued, in the database
    assert response.status_code == 202, response.content
    assert elapsed < 3
    assert wait_for_queued_publishes()  # the publish met the outage
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.status == Job.Status.QUEUED

    # when Redis is back, a worker runs, and beat's jobs sweep comes round
    private_redis.start()
    settings.JOB_REQUEUE_AFTER_SECONDS = 0
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=["celery"]
    ):
        assert send_task_fail_fast("core.jobs_sweep")
        wait_for(lambda: Job.objects.get(id=job.id).status in Job.FINISHED_STATUSES)

    # then the report was built, once
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert job.attempt == 1
    assert job.file.name.endswith(".csv")


@pytest.mark.django_db
def test_a_build_that_raises_ends_failed_with_a_code(doctor_client, monkeypatch):
    # given a report whose rendering hits a bug
    response = doctor_client.post(URL, BODY, format="json")
    assert response.status_code == 202

    def broken(*args: object, **kwargs: object) -> bytes:
        raise KeyError("column")

    monkeypatch.setattr(services, "render_csv", broken)

    # when the worker builds it
    with pytest.raises(KeyError):
        report_build(job_id=response.json()["job_id"])

    # then the job is failed with a code the client can read, not "running" forever
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.status == Job.Status.FAILED
    assert job.errors[0]["code"] == "report_failed"
    assert job.finished_at is not None
    polled = doctor_client.get(f"/api/v1/jobs/{job.id}/").json()
    assert polled["status"] == "failed"


@pytest.mark.django_db
class TestKeyReuse:
    def test_a_key_reused_with_other_parameters_is_422_even_after_its_record_expired(
        self, doctor_client, settings
    ):
        settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
        with time_machine.travel(timezone.now(), tick=False) as clock:
            # given a report requested with a key, whose record expired a day later
            first = doctor_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
            assert first.status_code == 202
            clock.shift(timedelta(hours=25))

            # when the key comes back with other parameters
            other = doctor_client.post(
                URL, {**BODY, "to": "2026-03-30"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
            )
            # then 422 as everywhere else, and no job changed or was added
            assert other.status_code == 422, other.content
            assert other.json()["error"]["code"] == "idempotency_key_reused"
            assert Job.objects.count() == 1
            assert Job.objects.get().result["request"]["to"] == "2026-03-31"

    def test_the_same_parameters_after_the_record_expired_get_the_same_job(
        self, doctor_client, settings
    ):
        settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
        with time_machine.travel(timezone.now(), tick=False) as clock:
            first = doctor_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
            clock.shift(timedelta(hours=25))
            same = doctor_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
        assert same.status_code == 202
        assert same.json()["job_id"] == first.json()["job_id"]
        assert Job.objects.count() == 1
