"""A real ``celery worker`` process killed (SIGKILL) while outbox events are pending.

Bookings queue their events on a private Redis; the first worker is killed after it has
delivered a few. A second worker then gets the unacknowledged messages back (short
visibility timeout) and the periodic sweep catches anything else. In the end every event
is delivered, and each subscriber's effect exists exactly once: one confirmation job, one
email per recipient, one webhook delivery per event, one audit row per booking.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from audit.models import AuditEvent
from core.broker import send_task_fail_fast
from core.models import Job, OutboxDelivery, OutboxEvent
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from notifications.webhook_endpoints import webhook_endpoint_save
from scheduling.events import BOOKING_CONFIRMATION_JOB
from scheduling.services import appointment_book
from tests.core.test_outbox_worker import private_redis  # noqa: F401 (fixture)
from tests.factories import DoctorFactory, PatientFactory, SlotFactory, StaffFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BOOKINGS = 12


def start_worker(broker_url: str, log: Path) -> subprocess.Popen:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    server = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{auth}@{server}/{db['NAME']}",
        "CELERY_BROKER_URL": broker_url,
        # The next worker takes back the dead worker's unacknowledged messages in seconds.
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "OUTBOX_SWEEP_AFTER_SECONDS": "1",
        # An email whose sender was killed (claimed, or recorded but not yet sent at the
        # kill) is swept in seconds, not the production minutes.
        "NOTIFICATION_SEND_LEASE_SECONDS": "3",
        "NOTIFICATION_SWEEP_AFTER_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        str(Path(sys.executable).with_name("celery")), "-A", "config", "worker",
        "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel=WARNING",
    ]  # fmt: skip
    handle = log.open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=handle)


def wait_for(condition, *, timeout: float, what: str, tick=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if tick is not None:
            tick()
        time.sleep(0.5)


def sweeps() -> None:
    """What beat runs: the outbox's sweep and the notifications' one."""
    send_task_fail_fast("core.outbox_sweep")
    send_task_fail_fast("notifications.retry_failed")


def book_all(count):
    doctor = DoctorFactory()
    appointments = []
    for n in range(count):
        start = hours_from_now(48 + n)
        slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
        appointments.append(appointment_book(patient=PatientFactory(), slot_id=slot.pk))
    return appointments


def test_killed_worker_loses_no_event_and_duplicates_no_effect(private_redis, receiver, tmp_path):  # noqa: F811
    # given a webhook endpoint and a worker, and bookings whose events are queued on Redis
    endpoint = webhook_endpoint_save(
        endpoint=WebhookEndpoint(
            name="Receiver", url=receiver.url, events=["appointment.scheduled"], rate_per_second=100
        ),
        actor=StaffFactory(),
    )
    log = tmp_path / "worker.log"
    first = start_worker(private_redis.url, log)
    appointments = book_all(BOOKINGS)
    scheduled = OutboxEvent.objects.filter(name="appointment.scheduled")

    # when the worker is killed after it delivered some events but not all
    try:
        wait_for(lambda: OutboxDelivery.objects.count() >= 3, timeout=120, what="first deliveries")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).exists(), log.read_text()[-2000:]

    # and a new worker starts, with the periodic sweep running as beat would run it
    second = start_worker(private_redis.url, log)
    try:
        wait_for(
            lambda: (
                not OutboxEvent.objects.filter(delivered_at__isnull=True).exists()
                and Notification.objects.filter(status=Notification.Status.SENT).count()
                == 2 * BOOKINGS
            ),
            timeout=180,
            what="every event delivered",
            tick=sweeps,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)

    # then each booking was confirmed once and audited once
    jobs = Counter(
        Job.objects.filter(kind=BOOKING_CONFIRMATION_JOB).values_list("subject_id", flat=True)
    )
    assert jobs == Counter(str(a.pk) for a in appointments)
    assert AuditEvent.objects.filter(action="appointment.book").count() == BOOKINGS
    # and every recipient got exactly one email per booking
    per_recipient = Counter(
        Notification.objects.filter(kind="appointment_scheduled").values_list(
            "event_id", "recipient_id"
        )
    )
    assert len(per_recipient) == 2 * BOOKINGS
    assert set(per_recipient.values()) == {1}
    # and each scheduled event became exactly one webhook delivery for the endpoint
    deliveries = Counter(
        WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_id", flat=True)
    )
    assert deliveries == Counter(scheduled.values_list("id", flat=True))
