"""No timer in memory: a real ``celery worker`` process mails an offer and is killed
(SIGKILL) before its deadline; the deadline passes with no worker; a worker started
afterwards (celery.contrib.testing, in a thread of this process) runs the periodic sweep
(``waitlist.sweep``, as beat sends it), and the offer expires and passes on. Both on the
Redis broker of CELERY_BROKER_URL (a queue of this test's own), against the test
database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from notifications.models import Notification
from scheduling.models import Slot
from scheduling.services import appointment_cancel
from tests.core.test_outbox_worker import private_queue, running_worker, wait_for
from tests.factories import PatientFactory
from tests.waitlist.conftest import booked_slot, join, live_offer
from waitlist.models import WaitlistOffer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
__all__ = ["private_queue"]  # a fixture

ROOT = Path(__file__).resolve().parents[2]


def test_the_sweep_is_on_beat_every_30_seconds():
    entry = django_settings.CELERY_BEAT_SCHEDULE["waitlist-sweep"]
    assert entry["task"] == "waitlist.sweep"
    assert float(entry["schedule"]) <= 30.0  # passed on within 60 s of a deadline
    celery_app.loader.import_default_modules()  # what a worker imports at start
    assert "waitlist.sweep" in celery_app.tasks


def start_worker_process(queue: str, log: Path) -> subprocess.Popen[bytes]:
    """A real ``celery worker`` process on this test's database and queue."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    server = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{auth}@{server}/{db['NAME']}",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "-Q", queue,
        "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel=WARNING",
    ]  # fmt: skip
    handle = log.open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=handle)


def test_a_worker_killed_between_offer_and_deadline_loses_nothing(doctor, private_queue, tmp_path):
    first, second = PatientFactory(), PatientFactory()
    join(first, doctor)
    join(second, doctor)
    slot, appointment = booked_slot(doctor)
    log = tmp_path / "worker.log"

    # a worker process is up when the slot is freed: the offer is made and mailed
    process = start_worker_process(private_queue, log)
    try:
        appointment_cancel(actor=appointment.patient, appointment_id=appointment.pk)
        offer = live_offer(slot)
        assert offer is not None
        assert offer.patient_id == first.pk
        sent = Notification.objects.filter(recipient=first, kind="waitlist_offer", status="sent")
        wait_for(sent.exists, timeout=90)
    finally:  # then it is killed, before the offer's deadline
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert timezone.now() < offer.expires_at, log.read_text()[-2000:]
    # the deadline passes with no worker running (the clock moved on: the offer's deadline
    # and its slot's hold are set into the past): nothing happens, nothing is lost
    past = timezone.now() - timedelta(seconds=1)
    WaitlistOffer.objects.filter(pk=offer.pk).update(expires_at=past)
    Slot.objects.filter(pk=slot.pk).update(held_until=past)
    time.sleep(1)
    assert WaitlistOffer.objects.get(pk=offer.pk).status == "offered"
    slot.refresh_from_db()
    assert slot.held_for_id == first.pk

    # a new worker runs the periodic sweep, as beat sends it
    with running_worker(private_queue):
        celery_app.send_task("waitlist.sweep")
        wait_for(lambda: WaitlistOffer.objects.get(pk=offer.pk).status == "expired")
        wait_for(lambda: Notification.objects.filter(recipient=second, status="sent").exists())

    passed = live_offer(slot)
    assert passed is not None
    assert passed.patient_id == second.pk
    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id) == (Slot.Status.HELD, second.pk)
    assert second.email in {m.to[0] for m in mail.outbox}  # the new worker mailed the second
