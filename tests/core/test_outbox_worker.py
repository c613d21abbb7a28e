"""The outbox with a real Celery worker on Redis: after commit, at least once, no duplicates.

The worker runs in a thread of this process (celery.contrib.testing), consuming the
Redis broker of CELERY_BROKER_URL, against the same test database.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction
from kombu import Queue

from accounts.models import Hospital
from audit.models import AuditEvent
from audit.services import audit_chain_verify
from config.celery import app as celery_app
from core.broker import send_task_fail_fast, wait_for_queued_publishes
from core.models import Job, OutboxDelivery, OutboxEvent
from core.outbox import event_publish, subscriber, unsubscribe
from core.tasks import outbox_deliver, outbox_sweep
from scheduling.events import BOOKING_CONFIRMATION_JOB
from scheduling.models import Appointment
from tests.core.private_redis import private_redis
from tests.factories import DoctorFactory, PatientFactory, SlotFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
__all__ = ["private_redis"]  # a fixture (tests.core.private_redis), imported from here too

EVENT = "test.worker_hospital"
CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def private_queue(worker_id: str) -> Iterator[str]:
    """A queue of this test process alone: parallel (xdist) runs share the Redis database,
    and one process's embedded worker must not take another's tasks (other test DB)."""
    name = f"carebook-test-{worker_id}"
    original = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name  # where every publish without a queue goes
    with celery_app.connection_for_write() as connection:
        Queue(name).bind(connection.default_channel).purge()  # leftovers of earlier runs
    yield name
    celery_app.conf.task_default_queue = original


@contextmanager
def running_worker(queue: str) -> Iterator[None]:
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=[queue]
    ):
        yield


@pytest.fixture
def worker(private_queue: str) -> Iterator[None]:
    with running_worker(private_queue):
        yield


@pytest.fixture
def hospital_subscriber() -> Iterator[None]:
    """A subscriber whose effect is a row per delivery, so a duplicate would show."""

    @subscriber(EVENT, name="test-worker-hospitals")
    def create_hospital(event: OutboxEvent) -> None:
        Hospital.objects.create(code=f"W-{str(event.id)[:8]}", name=event.payload["name"])

    yield
    unsubscribe(EVENT, "test-worker-hospitals")


@contextmanager
def broker_unreachable(monkeypatch) -> Iterator[None]:
    """Point the app at a closed port, as when Redis is down.

    Celery reads CELERY_BROKER_URL from the environment before its own setting.
    """
    with monkeypatch.context() as patch:
        patch.setenv("CELERY_BROKER_URL", CLOSED_PORT_BROKER)
        assert celery_app.conf.broker_write_url == CLOSED_PORT_BROKER
        yield
        # after-commit publishes run on a background thread: let them meet the outage
        assert wait_for_queued_publishes()


def delivered(event_id: uuid.UUID) -> Callable[[], bool]:
    return lambda: OutboxEvent.objects.filter(id=event_id, delivered_at__isnull=False).exists()


def test_event_is_delivered_after_commit_and_redelivery_does_not_duplicate(
    worker, hospital_subscriber
):
    # given an event published in a transaction that is still open
    with transaction.atomic():
        event = event_publish(name=EVENT, payload={"name": "After commit"})
        time.sleep(0.5)  # a worker that ran before commit would find no row
        assert not Hospital.objects.filter(name="After commit").exists()
    # when it commits, then the worker delivers it
    wait_for(delivered(event.id))
    assert Hospital.objects.filter(name="After commit").count() == 1

    # when Celery redelivers it (twice), even after losing the "delivered" mark
    OutboxEvent.objects.filter(id=event.id).update(delivered_at=None)
    for _ in range(2):
        outbox_deliver.apply_async(args=(str(event.id),)).get(timeout=20)
    # then the subscriber's effect still happened once
    assert Hospital.objects.filter(name="After commit").count() == 1
    assert (
        OutboxDelivery.objects.filter(event_id=event.id, subscriber="test-worker-hospitals").count()
        == 1
    )
    stored = OutboxEvent.objects.get(id=event.id)
    assert stored.delivered_at is not None
    # the first delivery, then one redelivery that re-checked each subscriber; the second
    # redelivery saw the event marked delivered and stopped at once
    assert stored.attempts == 2


def book(client_for, patient, slot):
    return client_for(patient).post(
        "/api/v1/appointments/",
        {"slot": slot.pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def test_booking_while_broker_down_succeeds_and_the_sweep_delivers_later(
    client_for, settings, monkeypatch, private_queue
):
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 0
    doctor, patient = DoctorFactory(), PatientFactory()
    start = hours_from_now(48)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))

    # given Redis is unreachable, when the patient books
    with broker_unreachable(monkeypatch):
        started = time.monotonic()
        response = book(client_for, patient, slot)
        elapsed = time.monotonic() - started
    # then the booking answers 201 quickly, and its event waits in the outbox
    assert response.status_code == 201, response.content
    assert elapsed < 3
    appointment = Appointment.objects.get(pk=response.json()["id"])
    event = OutboxEvent.objects.get(name="appointment.scheduled")
    assert event.payload["appointment_id"] == appointment.pk
    assert event.delivered_at is None
    assert not Job.objects.exists()

    # when the broker is back and a worker runs the periodic sweep
    with running_worker(private_queue):
        # (the subscribers' own follow-up events are queued normally once it is back)
        assert outbox_sweep.apply_async().get(timeout=30) == 1
        # (the follow-up events go out in the publisher's next batch; once the worker has
        # them all) the sweep runs again (beat fires every 30 s) and finds nothing left
        assert wait_for_queued_publishes()
        wait_for(lambda: not OutboxEvent.objects.filter(delivered_at__isnull=True).exists())
        assert outbox_sweep.apply_async().get(timeout=30) == 0

    # then the event was delivered once: one confirmation job, done
    assert OutboxEvent.objects.get(id=event.id).delivered_at is not None
    job = Job.objects.get(kind=BOOKING_CONFIRMATION_JOB)
    assert job.status == Job.Status.SUCCEEDED
    assert job.subject_id == str(appointment.pk)
    assert (
        OutboxDelivery.objects.filter(
            event=event, subscriber="scheduling.booking_confirmation"
        ).count()
        == 1
    )
    # and the booking's audit row exists (sealing is covered by beat's audit.seal)
    assert AuditEvent.objects.filter(action="appointment.book").count() == 1


def test_booking_with_worker_up_records_the_confirmation_job_and_seals_the_audit_row(
    worker, client_for
):
    doctor, patient = DoctorFactory(), PatientFactory()
    start = hours_from_now(48)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    response = book(client_for, patient, slot)
    assert response.status_code == 201, response.content
    appointment_id = response.json()["id"]
    # each subscriber records its own job: wait for the confirmation's, not the first one
    confirmed = Job.objects.filter(kind=BOOKING_CONFIRMATION_JOB, status=Job.Status.SUCCEEDED)
    wait_for(confirmed.exists)
    wait_for(lambda: audit_chain_verify().unsealed == 0)
    report = audit_chain_verify()
    assert report.ok
    # the booking's row, plus any rows other apps' subscribers wrote for it
    assert report.checked == AuditEvent.objects.count()
    assert AuditEvent.objects.filter(action="appointment.book").count() == 1
    # the patient sees the job under the appointment's tasks
    tasks = client_for(patient).get(f"/api/v1/tasks/appointments/{appointment_id}/")
    assert tasks.status_code == 200
    jobs = tasks.json()["results"]
    (job,) = [job for job in jobs if job["kind"] == BOOKING_CONFIRMATION_JOB]
    assert all(
        job["subject"] == {"type": "scheduling.appointment", "id": str(appointment_id)}
        for job in jobs
    )
    assert job["status"] == "succeeded"
    assert job["result"]["confirmed"] is True


# --- a real Redis that stops and comes back: tests.core.private_redis ----------------------


def test_redis_stopping_and_restarting_loses_no_event(
    client_for, settings, private_redis, private_queue
):
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 3600  # the sweep only runs when this test says so
    doctor = DoctorFactory()

    def booking():
        start = hours_from_now(48 + 24 * Appointment.objects.count())
        slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
        response = book(client_for, PatientFactory(), slot)
        assert response.status_code == 201, response.content
        return OutboxEvent.objects.get(
            name="appointment.scheduled", aggregate_id=str(response.json()["id"])
        )

    # given a booking queued on Redis, which is then stopped (its queue is lost: no AOF)
    queued_then_lost = booking()
    assert wait_for_queued_publishes()  # its publish (a background thread) reached Redis
    private_redis.stop()
    # when a patient books during the outage, then the API still answers 201, quickly
    started = time.monotonic()
    during_outage = booking()
    assert time.monotonic() - started < 3
    assert wait_for_queued_publishes()  # its publish met the outage
    # when Redis comes back, then the next booking's event is queued on a fresh connection
    private_redis.start()
    after_restart = booking()
    with running_worker(private_queue):
        wait_for(delivered(after_restart.id))
        # and the two events Redis never delivered wait in the outbox
        assert not delivered(queued_then_lost.id)()
        assert not delivered(during_outage.id)()
        # when the periodic sweep runs
        settings.OUTBOX_SWEEP_AFTER_SECONDS = 0
        send_task_fail_fast("core.outbox_sweep")
        wait_for(delivered(queued_then_lost.id))
        wait_for(delivered(during_outage.id))

    # then each booking was confirmed exactly once
    jobs = Job.objects.filter(kind=BOOKING_CONFIRMATION_JOB)
    assert sorted(jobs.values_list("subject_id", flat=True)) == sorted(
        str(appointment.pk) for appointment in Appointment.objects.all()
    )
    assert all(job.status == Job.Status.SUCCEEDED for job in jobs)
    for event in (queued_then_lost, during_outage, after_restart):
        assert (
            OutboxDelivery.objects.filter(
                event=event, subscriber="scheduling.booking_confirmation"
            ).count()
            == 1
        )
    # and each patient got exactly one email (the worker thread shares the locmem outbox)
    recipients = Counter(address for message in mail.outbox for address in message.to)
    for appointment in Appointment.objects.select_related("patient"):
        assert recipients[appointment.patient.email] == 1
    # and one audit row per booking
    assert AuditEvent.objects.filter(action="appointment.book").count() == 3
