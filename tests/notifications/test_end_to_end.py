"""Booking → reschedule → cancel with nothing queued (as when the broker is down), then
the outbox sweep delivers, twice: one email per recipient per event, one webhook
delivery per endpoint per event, and one signed request per delivery at the receiver.

(In these tests nothing runs on commit, so no task is queued: exactly the state the
outbox is in after a broker outage. Each sweep is then followed by what its commits run:
emails are sent after the transaction that records them.)
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from core.models import OutboxEvent
from core.outbox import outbox_sweep_pending
from notifications.models import Notification, WebhookDelivery
from notifications.webhook_delivery import webhook_delivery_attempt
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from tests.factories import DoctorFactory, PatientFactory, SlotFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db

APPOINTMENT_EVENTS = ("appointment.scheduled", "appointment.rescheduled", "appointment.cancelled")


def open_slot(doctor, days: int):
    start = (timezone.now() + timedelta(days=days)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    return SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))


def test_every_event_has_exactly_one_effect_per_subscriber_after_an_outage(receiver):
    # given two endpoints (one for everything, one only for cancellations)
    receiver.secret = "whsec_e2e"
    everything = WebhookEndpointFactory(url=receiver.url, secret="whsec_e2e", events=["*"])
    cancellations = WebhookEndpointFactory(
        url=receiver.url, secret="whsec_e2e", events=["appointment.cancelled"]
    )
    patient, doctor = PatientFactory(), DoctorFactory()

    # and a booking that is rescheduled and cancelled while no task could be queued
    appointment = appointment_book(patient=patient, slot_id=open_slot(doctor, 3).pk)
    appointment_reschedule(
        actor=patient, appointment_id=appointment.pk, new_slot_id=open_slot(doctor, 4).pk
    )
    appointment_cancel(actor=patient, appointment_id=appointment.pk)
    assert mail.outbox == []

    # when the sweep delivers everything, and a second sweep (or redelivery) runs again
    def sweep() -> None:
        with TestCase.captureOnCommitCallbacks(execute=True):
            outbox_sweep_pending(older_than=timedelta(0))

    sweep()
    OutboxEvent.objects.update(delivered_at=None)  # as if the first run's ack was lost
    sweep()
    sweep()  # notification.sent events too

    # then one email per recipient per appointment event
    sent = Counter((m.to[0], m.subject) for m in mail.outbox)
    assert len(mail.outbox) == 6
    assert set(sent.values()) == {1}
    assert Notification.objects.filter(status="sent").count() == 6

    # and one webhook delivery per endpoint per event it subscribed to
    events = OutboxEvent.objects.all()
    appointment_events = events.filter(name__in=APPOINTMENT_EVENTS)
    assert appointment_events.count() == 3
    assert WebhookDelivery.objects.filter(endpoint=everything).count() == events.count()
    assert list(
        WebhookDelivery.objects.filter(endpoint=cancellations).values_list("event_type", flat=True)
    ) == ["appointment.cancelled"]
    assert events.filter(name="notification.sent").count() == 6

    # and attempting every delivery (twice) makes one verified request per delivery
    for delivery in WebhookDelivery.objects.all():
        webhook_delivery_attempt(delivery_id=delivery.pk)
        webhook_delivery_attempt(delivery_id=delivery.pk)
    assert receiver.count == WebhookDelivery.objects.count() == events.count() + 1
    assert all(request.verified for request in receiver.requests)
    pairs = Counter(
        (r.headers["Carebook-Delivery-Id"], r.headers["Carebook-Event-Id"])
        for r in receiver.requests
    )
    assert set(pairs.values()) == {1}
