from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
)


def hours_ahead(hours: float) -> datetime:
    return timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)


@dataclass
class Clinic:
    """Patient A (born 1980-05-17) sees ``doctor``; patient B (born 1991-11-02) sees
    ``other``. ``doctor`` has free slots tomorrow and the day after, a booked one (A's
    appointment) and a withdrawn one."""

    doctor: Any
    other: Any
    patient_a: Any
    patient_b: Any
    staff: Any
    free: list[Any]
    withdrawn: Any
    appointment_a: Any
    appointment_b: Any


@pytest.fixture
def clinic(db) -> Clinic:
    doctor = DoctorFactory(first_name="Greta", last_name="Lindqvist",
                           profile__license_number="GMC-1001")  # fmt: skip
    other = PsychologistFactory(first_name="Omar", last_name="Haddad",
                                profile__license_number="HCPC-2002")  # fmt: skip
    patient_a = PatientFactory(first_name="Alice", last_name="Archer",
                               profile__date_of_birth=date(1980, 5, 17))  # fmt: skip
    patient_b = PatientFactory(first_name="Bob", last_name="Brown",
                               profile__date_of_birth=date(1991, 11, 2))  # fmt: skip
    free = [
        SlotFactory(clinician=doctor, start=hours_ahead(hours), end=hours_ahead(hours + 0.5))
        for hours in (26, 27, 50)
    ]
    withdrawn = SlotFactory(
        clinician=doctor, start=hours_ahead(28), end=hours_ahead(28.5), status="withdrawn"
    )
    appointment_a = AppointmentFactory(
        patient=patient_a,
        slot=SlotFactory(clinician=doctor, start=hours_ahead(72), end=hours_ahead(72.5),
                         status="booked", seats_taken=1),
        reason="Knee pain",
    )  # fmt: skip
    appointment_b = AppointmentFactory(
        patient=patient_b,
        slot=SlotFactory(clinician=other, start=hours_ahead(74), end=hours_ahead(74.5),
                         status="booked", seats_taken=1),
    )  # fmt: skip
    return Clinic(doctor, other, patient_a, patient_b, StaffFactory(), free, withdrawn,
                  appointment_a, appointment_b)  # fmt: skip
