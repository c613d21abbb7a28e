"""Races on the waitlist (PostgreSQL): threads, each with its own connection, through the
HTTP stack at once. Never a 5xx; the database ends in one consistent state."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from scheduling.models import Appointment, Slot
from tests.factories import DoctorFactory, PatientFactory
from tests.scheduling.test_postgres_races import _outcomes, _post, _race
from tests.waitlist.conftest import booked_slot, join, live_offer, slot_for
from waitlist.models import WaitlistEntry, WaitlistOffer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 20
OFFERS = "/api/v1/waitlist/offers/"
WAITLIST = "/api/v1/waitlist/"


def _offered_slot():
    """A doctor's slot freed by a cancellation and offered to the one waiting patient."""
    doctor = DoctorFactory()
    waiting = PatientFactory()
    join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    from scheduling.services import appointment_cancel

    appointment_cancel(actor=appointment.patient, appointment_id=appointment.pk)
    offer = live_offer(slot)
    assert offer is not None
    return slot, offer, waiting


def test_twenty_concurrent_accepts_make_one_appointment(client_for):
    slot, offer, waiting = _offered_slot()
    client = client_for(waiting)
    calls = [
        _post(
            client, f"{OFFERS}{offer.pk}/accept/", {}, {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
        )
        for _ in range(RACERS)
    ]

    results = _race(calls)

    assert all(isinstance(r, tuple) and r[0] < 500 for r in results), results
    created = [r[1]["id"] for r in results if isinstance(r, tuple) and r[0] == 201]
    refused = Counter(
        r[1]["error"]["code"] for r in results if isinstance(r, tuple) and r[0] >= 400
    )
    assert len(created) + sum(refused.values()) == RACERS
    assert set(refused) <= {"idempotency_request_in_progress", "conflict"}, refused
    assert len(set(created)) == 1  # every 201 is the same appointment
    (appointment,) = Appointment.objects.filter(slot=slot).exclude(status="cancelled")
    assert appointment.pk == created[0]
    assert appointment.patient_id == waiting.pk
    offer.refresh_from_db()
    assert (offer.status, offer.appointment_id) == ("accepted", appointment.pk)
    assert WaitlistEntry.objects.get(pk=offer.entry_id).status == "fulfilled"
    slot.refresh_from_db()
    assert (slot.status, slot.held_until) == (Slot.Status.BOOKED, None)


def test_twenty_accepts_with_one_key_run_once_and_replay(client_for):
    slot, offer, waiting = _offered_slot()
    client = client_for(waiting)
    key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}

    results = _race([_post(client, f"{OFFERS}{offer.pk}/accept/", {}, key) for _ in range(RACERS)])

    outcomes = _outcomes(results)
    assert outcomes[(201, "ok")] >= 1
    assert outcomes[(201, "ok")] + outcomes[(409, "idempotency_request_in_progress")] == RACERS, (
        outcomes
    )
    assert Appointment.objects.filter(slot=slot).exclude(status="cancelled").count() == 1


def test_accept_and_decline_at_once_end_in_one_state(client_for):
    slot, offer, waiting = _offered_slot()
    client = client_for(waiting)
    calls = []
    for i in range(RACERS):
        action = "accept" if i % 2 == 0 else "decline"
        key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
        calls.append(_post(client, f"{OFFERS}{offer.pk}/{action}/", {}, key))

    results = _race(calls)

    assert all(isinstance(r, tuple) and r[0] < 500 for r in results), results
    offer.refresh_from_db()
    booked = Appointment.objects.filter(slot=slot).exclude(status="cancelled")
    slot.refresh_from_db()
    if offer.status == "accepted":
        assert booked.count() == 1
        assert slot.status == Slot.Status.BOOKED
        assert {r[1]["error"]["code"] for r in results if r[0] >= 400} <= {"offer_not_open"}
    else:
        assert offer.status == "declined"
        assert booked.count() == 0
        assert (slot.status, slot.held_until) == (Slot.Status.OPEN, None)
        assert {r[1]["error"]["code"] for r in results if r[0] >= 400} <= {"offer_not_open"}


def test_concurrent_joins_make_one_active_entry(client_for):
    doctor = DoctorFactory()
    patient = PatientFactory()
    client = client_for(patient)

    results = _race([_post(client, WAITLIST, {"clinician": doctor.pk}) for _ in range(10)])

    assert _outcomes(results) == {(201, "ok"): 1, (409, "waitlist_duplicate"): 9}
    assert WaitlistEntry.objects.filter(patient=patient, status="active").count() == 1


def test_concurrent_cancellations_offer_one_waiting_patient_one_slot(client_for):
    """Two slots of one clinician freed at once, one patient waiting: exactly one offer
    (one live offer per entry), the other slot open; no deadlock, no 5xx."""
    doctor = DoctorFactory()
    waiting = PatientFactory()
    join(waiting, doctor)
    pairs = [booked_slot(doctor, hours=48 + 2 * i) for i in range(6)]
    calls = [
        _post(client_for(appointment.patient), f"/api/v1/appointments/{appointment.pk}/cancel/", {})
        for _slot, appointment in pairs
    ]

    results = _race(calls)

    assert _outcomes(results) == {(200, "ok"): 6}
    offers = WaitlistOffer.objects.filter(patient=waiting, status="offered")
    assert offers.count() == 1
    held = Slot.objects.filter(pk__in=[s.pk for s, _ in pairs], status=Slot.Status.HELD)
    assert list(held.values_list("pk", flat=True)) == [offers.get().slot_id]
    assert Slot.objects.filter(pk__in=[s.pk for s, _ in pairs], status="open").count() == 5


def test_offer_and_a_stranger_booking_race_for_a_freed_slot(client_for):
    """A cancellation (which offers the slot) and twenty outsiders booking it: either an
    outsider got it before the cancel's offer (then nobody is offered) or the offer holds
    it and every outsider is refused; never both an offer and a stranger's booking."""
    doctor = DoctorFactory()
    waiting = PatientFactory()
    join(waiting, doctor)
    slot = slot_for(doctor, 48)
    booker = PatientFactory()
    from scheduling.services import appointment_book

    appointment = appointment_book(patient=booker, slot_id=slot.pk)
    calls = [_post(client_for(booker), f"/api/v1/appointments/{appointment.pk}/cancel/", {})]
    calls += [
        _post(
            client_for(PatientFactory()),
            "/api/v1/appointments/",
            {"slot": slot.pk},
            {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())},
        )
        for _ in range(RACERS - 1)
    ]

    results = _race(calls)

    assert all(isinstance(r, tuple) and r[0] < 500 for r in results), results
    live = Appointment.objects.filter(slot=slot).exclude(status="cancelled")
    offer = live_offer(slot)
    if offer is not None:
        assert live.count() == 0
        assert offer.patient_id == waiting.pk
    else:
        assert live.count() <= 1


def test_leaving_while_accepting_ends_in_one_state(client_for):
    slot, offer, waiting = _offered_slot()
    client = client_for(waiting)
    calls = []
    for i in range(10):
        if i % 2 == 0:
            key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
            calls.append(_post(client, f"{OFFERS}{offer.pk}/accept/", {}, key))
        else:
            calls.append(_delete(client, f"{WAITLIST}{offer.entry_id}/"))

    results = _race(calls)

    assert all(isinstance(r, tuple) and r[0] < 500 for r in results), results
    entry = WaitlistEntry.objects.get(pk=offer.entry_id)
    offer.refresh_from_db()
    booked = Appointment.objects.filter(slot=slot).exclude(status="cancelled")
    if entry.status == "fulfilled":
        assert offer.status == "accepted"
        assert booked.count() == 1
    else:
        assert entry.status == "removed"
        assert offer.status == "declined"
        assert booked.count() == 0
        slot.refresh_from_db()
        assert (slot.status, slot.held_until) == (Slot.Status.OPEN, None)


def _delete(client, url: str):
    def call() -> tuple[int, dict]:
        response = client.delete(url)
        return response.status_code, response.json()

    return call
