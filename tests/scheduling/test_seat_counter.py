"""The slot's seat counter serves reads; the appointment rows are the truth. A counter
left stale (a reopened slot whose count was not reset) heals at the next booking instead
of failing it with the counter's CHECK constraint (a 500)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling import services
from scheduling.models import Appointment, Slot
from tests.factories import DoctorFactory, PatientFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db


def test_a_reopened_slot_with_a_stale_count_books_and_counts_right():
    # given a one-seat slot whose only appointment was cancelled and which was reopened
    # by hand without resetting its counter
    start = hours_from_now(72)
    slot = Slot.objects.create(
        clinician=DoctorFactory(), start=start, end=start + timedelta(minutes=30)
    )
    first = services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    Appointment.objects.filter(pk=first.pk).update(status=Appointment.Status.CANCELLED)
    Slot.objects.filter(pk=slot.pk).update(status=Slot.Status.OPEN)  # seats_taken stays 1

    # when another patient books it
    second = services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)

    # then the booking holds seat 1 and the counter says one seat is taken
    slot.refresh_from_db()
    assert (second.seat, slot.seats_taken, slot.status) == (1, 1, Slot.Status.BOOKED)
