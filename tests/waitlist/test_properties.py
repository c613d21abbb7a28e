"""Property: over random sequences of join, book, cancel, offer, accept, decline and
expire, the ``status=open`` availability list (the real API) never shows a held slot, a
live offer always has its slot's hold, a slot has at most one live offer, and seats agree
with the live appointments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from scheduling import services
from scheduling.models import Appointment, Slot
from tests.factories import DoctorFactory, PatientFactory, SlotFactory
from tests.scheduling.conftest import hours_from_now
from waitlist.models import WaitlistOffer
from waitlist.services import (
    entry_join,
    offer_accept,
    offer_decline,
    offer_touch,
    offers_expire_due,
    slot_offer_next,
)

pytestmark = pytest.mark.django_db

AVAILABILITY = "/api/v1/availability/"
ACTIONS = ["join", "book", "cancel", "offer", "accept", "decline", "expire", "sweep", "touch"]
# what frees and offers a slot comes up more often: most sequences then make offers
WEIGHTED = [*ACTIONS, "cancel", "offer", "offer"]

steps = st.lists(
    st.tuples(
        st.sampled_from(WEIGHTED),
        st.integers(min_value=0, max_value=2),  # which slot
        st.integers(min_value=0, max_value=3),  # which patient
    ),
    min_size=4,
    max_size=30,
)


def _live(slot: Slot) -> WaitlistOffer | None:
    return WaitlistOffer.objects.filter(slot=slot, status="offered").first()


def _run(step: str, slot: Slot, patient, doctor) -> None:
    offer = _live(slot)
    try:
        if step == "join":
            entry_join(patient=patient, clinician=doctor, actor=patient)
        elif step == "book":
            services.appointment_book(patient=patient, slot_id=slot.pk)
        elif step == "cancel":
            live = Appointment.objects.filter(slot=slot, status__in=Appointment.ACTIVE_STATUSES)
            appointment = live.order_by("id").first()
            if appointment is not None:
                services.appointment_cancel(actor=doctor, appointment_id=appointment.pk)
        elif step == "offer":
            slot_offer_next(slot_id=slot.pk)
        elif offer is not None and step == "accept":
            offer_accept(offer_id=offer.pk, actor=offer.patient)
        elif offer is not None and step == "decline":
            offer_decline(offer_id=offer.pk, actor=offer.patient)
        elif offer is not None and step == "expire":
            past = timezone.now() - timedelta(seconds=1)
            WaitlistOffer.objects.filter(pk=offer.pk).update(expires_at=past)
            Slot.objects.filter(pk=slot.pk).update(held_until=past)
        elif step == "sweep":
            offers_expire_due()
        elif offer is not None and step == "touch":
            offer_touch(offer_id=offer.pk, user=offer.patient)
    except DomainError:
        pass  # a refusal (409, 410 and the like) changes nothing


def _check(viewer, doctor, slots) -> None:
    now = timezone.now()
    listed = viewer.get(AVAILABILITY, {"status": "open", "clinician": doctor.pk})
    assert listed.status_code == 200
    listed_ids = {s["id"] for s in listed.json()["results"]}
    for slot in Slot.objects.filter(pk__in=[s.pk for s in slots]):
        keeps_last_seat = slot.hold_live(now) and slot.seats_taken + 1 >= slot.capacity
        if keeps_last_seat or slot.status == Slot.Status.HELD:
            assert slot.pk not in listed_ids
        if slot.pk in listed_ids:
            assert slot.seats_left >= 1
            assert slot.status == Slot.Status.OPEN
        live_offers = list(WaitlistOffer.objects.filter(slot=slot, status="offered"))
        assert len(live_offers) <= 1
        for offer in live_offers:
            if offer.expires_at > now:  # a live offer keeps its seat held for its patient
                assert (slot.held_for_id, slot.held_until) == (offer.patient_id, offer.expires_at)
        live = Appointment.objects.filter(slot=slot).exclude(status="cancelled").count()
        assert live == slot.seats_taken <= slot.capacity
        accepted = WaitlistOffer.objects.filter(slot=slot, status="accepted")
        for offer in accepted:
            assert offer.appointment is not None
            assert offer.appointment.patient_id == offer.patient_id


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps)
def test_the_open_list_never_shows_a_held_slot_whatever_the_waitlist_does(client_for, sequence):
    doctor = DoctorFactory()
    base = hours_from_now(48)
    slots = [
        SlotFactory(
            clinician=doctor,
            start=base + timedelta(hours=i),
            end=base + timedelta(hours=i, minutes=30),
            capacity=capacity,
        )
        for i, capacity in enumerate((1, 1, 2))
    ]
    patients = [PatientFactory() for _ in range(4)]
    viewer = client_for(patients[0])

    # a start that gives the waitlist work: three patients wait, two slots are booked
    prefix = [("join", 0, 1), ("join", 0, 2), ("join", 0, 3), ("book", 0, 0), ("book", 2, 0)]
    for step, slot_index, patient_index in [*prefix, *sequence]:
        _run(step, slots[slot_index], patients[patient_index], doctor)
        _check(viewer, doctor, slots)
    offers = WaitlistOffer.objects.filter(slot__in=slots)
    event(f"offers made: {min(offers.count(), 3)}+")  # --hypothesis-show-statistics
    event(f"offers accepted: {offers.filter(status='accepted').exists()}")
