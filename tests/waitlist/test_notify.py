"""Telling the patient: the offer's email goes through the one mail path after commit,
with the slot and the deadline on the patient's own clock and a link; email off is
honoured (recorded as skipped, the offer stands)."""

from __future__ import annotations

import pytest
from django.core import mail

from core.models import OutboxEvent
from core.outbox import outbox_event_deliver
from notifications.models import Notification, NotificationPreference
from notifications.services import format_local
from scheduling.services import appointment_cancel
from tests.factories import PatientFactory
from tests.waitlist.conftest import booked_slot, join, live_offer
from waitlist.services import offer_decline

pytestmark = pytest.mark.django_db


def offer_for(doctor, waiting):
    slot, appointment = booked_slot(doctor)
    appointment_cancel(actor=appointment.patient, appointment_id=appointment.pk)
    offer = live_offer(slot)
    assert offer is not None
    assert offer.patient_id == waiting.pk
    return offer


def deliver_offer_events(capture) -> None:
    """What the worker does after commit: the subscribers, then their own commit hooks."""
    with capture(execute=True):
        for event in OutboxEvent.objects.filter(name="waitlist.offered"):
            outbox_event_deliver(event_id=event.id)


def test_an_offer_is_a_notification_and_an_email_on_the_patients_clock(
    doctor, django_capture_on_commit_callbacks, settings
):
    settings.PUBLIC_BASE_URL = "https://carebook.example"
    waiting = PatientFactory(time_zone="America/New_York", first_name="Ada")
    join(waiting, doctor)
    offer = offer_for(doctor, waiting)

    deliver_offer_events(django_capture_on_commit_callbacks)

    (notification,) = Notification.objects.filter(kind="waitlist_offer")
    assert notification.recipient_id == waiting.pk
    assert notification.status == "sent"
    (email,) = [m for m in mail.outbox if m.to == [waiting.email]]
    assert "Ada" in email.body
    assert format_local(offer.slot.start, waiting) in email.body
    assert format_local(offer.expires_at, waiting) in email.body
    assert "America/New_York" in email.body
    assert f"https://carebook.example/api/v1/waitlist/offers/{offer.pk}/" in email.body


def test_a_redelivered_offer_event_sends_once(doctor, django_capture_on_commit_callbacks):
    waiting = PatientFactory()
    join(waiting, doctor)
    offer_for(doctor, waiting)

    deliver_offer_events(django_capture_on_commit_callbacks)
    OutboxEvent.objects.update(delivered_at=None)
    from core.models import OutboxDelivery

    OutboxDelivery.objects.all().delete()
    deliver_offer_events(django_capture_on_commit_callbacks)

    assert Notification.objects.filter(kind="waitlist_offer").count() == 1
    assert len([m for m in mail.outbox if m.to == [waiting.email]]) == 1


def test_email_off_records_the_offer_email_as_skipped_and_the_offer_stands(
    doctor, django_capture_on_commit_callbacks
):
    waiting = PatientFactory()
    NotificationPreference.objects.create(user=waiting, email=False)
    join(waiting, doctor)
    offer = offer_for(doctor, waiting)

    deliver_offer_events(django_capture_on_commit_callbacks)

    (notification,) = Notification.objects.filter(kind="waitlist_offer")
    assert notification.status == "skipped"
    assert not [m for m in mail.outbox if m.to == [waiting.email]]
    offer.refresh_from_db()
    assert offer.status == "offered"


def test_an_offer_answered_before_the_worker_ran_is_not_mailed(
    doctor, django_capture_on_commit_callbacks
):
    waiting = PatientFactory()
    join(waiting, doctor)
    offer = offer_for(doctor, waiting)
    offer_decline(offer_id=offer.pk, actor=waiting)

    deliver_offer_events(django_capture_on_commit_callbacks)

    assert not Notification.objects.filter(kind="waitlist_offer").exists()
