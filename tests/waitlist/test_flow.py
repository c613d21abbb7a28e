"""The issue's walk-through (#16, "Must show"): a cancelled slot passes down three waiting
patients through an offer, a decline, an expiry and an accept."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from core.models import OutboxEvent
from scheduling.models import Appointment, Slot
from scheduling.services import appointment_cancel
from tests.factories import PatientFactory
from tests.waitlist.conftest import join, live_offer
from waitlist.models import WaitlistEntry, WaitlistOffer

pytestmark = pytest.mark.django_db

BOOK = "/api/v1/appointments/"
OFFERS = "/api/v1/waitlist/offers/"


def test_a_cancelled_slot_passes_down_three_waiting_patients(booked, doctor, client_for, settings):
    settings.WAITLIST_HOLD_SECONDS = 60
    first, second, third = PatientFactory(), PatientFactory(), PatientFactory()
    entries = [join(p, doctor) for p in (first, second, third)]
    slot, appointment = booked(hours=48)

    # given a cancellation: the first waiting patient has the offer, the slot is held
    appointment_cancel(actor=appointment.patient, appointment_id=appointment.pk)
    offer1 = live_offer(slot)
    assert offer1 is not None
    assert offer1.patient_id == first.pk
    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id) == (Slot.Status.HELD, first.pk)
    assert slot.held_until == offer1.expires_at

    # another patient's booking of the held slot is 409 slot_held
    outsider = client_for(PatientFactory())
    refused = outsider.post(
        BOOK, {"slot": slot.pk}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert refused.status_code == 409, refused.json()
    assert refused.json()["error"]["code"] == "slot_held"

    # the first declines: the second has it at once
    declined = client_for(first).post(f"{OFFERS}{offer1.pk}/decline/")
    assert declined.status_code == 200, declined.json()
    assert declined.json()["status"] == "declined"
    offer2 = live_offer(slot)
    assert offer2 is not None
    assert offer2.patient_id == second.pk

    # the hold expires: accept is 410 and the third has the offer
    with time_machine.travel(offer2.expires_at + timedelta(seconds=1), tick=False):
        late = client_for(second).post(
            f"{OFFERS}{offer2.pk}/accept/", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )
        assert late.status_code == 410, late.json()
        assert late.json()["error"]["code"] == "offer_expired"
        offer3 = live_offer(slot)
        assert offer3 is not None
        assert offer3.patient_id == third.pk
        # the third accepts: one appointment, entry closed, slot booked
        accepted = client_for(third).post(
            f"{OFFERS}{offer3.pk}/accept/", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )
    assert accepted.status_code == 201, accepted.json()
    body = accepted.json()
    assert body["patient"]["id"] == third.pk
    assert body["slot"] == slot.pk
    live = Appointment.objects.filter(slot=slot).exclude(status="cancelled")
    assert list(live.values_list("patient_id", flat=True)) == [third.pk]
    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id, slot.held_until) == (Slot.Status.BOOKED, None, None)
    statuses = dict(WaitlistOffer.objects.filter(slot=slot).values_list("patient_id", "status"))
    assert statuses == {first.pk: "declined", second.pk: "expired", third.pk: "accepted"}
    for entry in entries:
        entry.refresh_from_db()
    assert [e.status for e in entries] == ["active", "active", "fulfilled"]
    assert entries[2].appointment_id == body["id"]
    # every step is audited and evented
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"waitlist.offer", "waitlist.decline", "waitlist.expire", "waitlist.accept"} <= actions
    names = set(OutboxEvent.objects.values_list("name", flat=True))
    assert {"waitlist.offered", "waitlist.expired", "waitlist.accepted"} <= names
    assert timezone.now() < slot.start
    assert WaitlistEntry.objects.filter(status="active").count() == 2
