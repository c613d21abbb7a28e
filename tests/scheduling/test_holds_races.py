"""Races on a held slot (PostgreSQL): 20 threads, each with its own connection, book it
through the HTTP stack at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling.models import Appointment, Slot
from scheduling.services.holds import slot_hold
from tests.factories import DoctorFactory, PatientFactory
from tests.scheduling.conftest import hours_from_now
from tests.scheduling.test_postgres_races import BOOK, _outcomes, _post, _race

RACERS = 20


def _calls(client_for, patients, slot):
    return [
        _post(client_for(p), BOOK, {"slot": slot.pk}, {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())})
        for p in patients
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_held_patient_wins_a_race_for_their_held_slot(client_for):
    doctor = DoctorFactory()
    slot = Slot.objects.create(clinician=doctor, start=hours_from_now(48), end=hours_from_now(48.5))
    held = PatientFactory()
    slot_hold(slot_id=slot.pk, patient=held)
    patients = [held, *(PatientFactory() for _ in range(RACERS - 1))]

    results = _race(_calls(client_for, patients, slot))

    assert results[0][0] == 201, results[0]
    outcomes = _outcomes(results)
    assert outcomes[(201, "ok")] == 1
    # the others: held while the hold lives, unavailable once the held patient booked it
    refused = outcomes[(409, "slot_held")] + outcomes[(409, "slot_unavailable")]
    assert refused == RACERS - 1, outcomes
    (appointment,) = Appointment.objects.filter(slot=slot).exclude(status="cancelled")
    assert appointment.patient_id == held.pk
    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id, slot.held_until) == (Slot.Status.BOOKED, None, None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_expiry_exactly_one_racer_wins_the_slot(client_for):
    doctor = DoctorFactory()
    slot = Slot.objects.create(clinician=doctor, start=hours_from_now(48), end=hours_from_now(48.5))
    held = PatientFactory()
    slot_hold(slot_id=slot.pk, patient=held)
    Slot.objects.filter(pk=slot.pk).update(held_until=timezone.now() - timedelta(seconds=1))
    patients = [held, *(PatientFactory() for _ in range(RACERS - 1))]

    results = _race(_calls(client_for, patients, slot))

    assert _outcomes(results) == {(201, "ok"): 1, (409, "slot_unavailable"): RACERS - 1}
    assert Appointment.objects.filter(slot=slot).exclude(status="cancelled").count() == 1
    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id, slot.held_until) == (Slot.Status.BOOKED, None, None)
