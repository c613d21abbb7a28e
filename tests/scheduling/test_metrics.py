"""Business counters move with the scheduling services: bookings and cancellations after
commit, conflicts whenever a 409 is decided."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from core.errors import Conflict
from scheduling import services
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_booking_cancellation_and_conflict_are_counted(doctor, patient, slot_at):
    slot = slot_at(doctor, 48)
    before = {
        n: sample(n) for n in ("bookings_total", "cancellations_total", "booking_conflicts_total")
    }

    appointment = services.appointment_book(patient=patient, slot_id=slot.pk)
    with pytest.raises(Conflict):
        services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    services.appointment_cancel(actor=patient, appointment_id=appointment.pk, reason="ill")

    assert sample("bookings_total") == before["bookings_total"] + 1
    assert sample("booking_conflicts_total") == before["booking_conflicts_total"] + 1
    assert sample("cancellations_total") == before["cancellations_total"] + 1
