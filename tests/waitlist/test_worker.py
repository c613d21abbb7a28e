"""No timer in memory: with no worker alive between an offer and its deadline, a worker
started afterwards runs the periodic sweep (``waitlist.sweep``, as beat sends it), and the
offer expires and passes on. A real Celery worker (celery.contrib.testing, in a thread of
this process) on the Redis broker of CELERY_BROKER_URL, against the test database."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.core import mail

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

HOLD_SECONDS = 3


def test_the_sweep_is_on_beat_every_30_seconds():
    entry = django_settings.CELERY_BEAT_SCHEDULE["waitlist-sweep"]
    assert entry["task"] == "waitlist.sweep"
    assert float(entry["schedule"]) <= 30.0  # passed on within 60 s of a deadline
    celery_app.loader.import_default_modules()  # what a worker imports at start
    assert "waitlist.sweep" in celery_app.tasks


def test_a_worker_gone_between_offer_and_deadline_loses_nothing(doctor, private_queue, settings):
    settings.WAITLIST_HOLD_SECONDS = HOLD_SECONDS
    first, second = PatientFactory(), PatientFactory()
    join(first, doctor)
    join(second, doctor)
    slot, appointment = booked_slot(doctor)

    # a worker is up when the slot is freed: the offer is made and mailed
    with running_worker(private_queue):
        appointment_cancel(actor=appointment.patient, appointment_id=appointment.pk)
        offer = live_offer(slot)
        assert offer is not None
        assert offer.patient_id == first.pk
        wait_for(lambda: Notification.objects.filter(recipient=first, status="sent").exists())
    # the worker is gone; the deadline passes with nothing running
    time.sleep(max(0.0, (offer.expires_at - offer.created_at).total_seconds()) + 0.5)
    assert WaitlistOffer.objects.get(pk=offer.pk).status == "offered"  # nobody swept yet

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
    assert {m.to[0] for m in mail.outbox} >= {first.email, second.email}
