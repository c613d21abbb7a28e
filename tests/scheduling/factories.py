"""Factories of the scheduling app: slots and appointments."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any, cast

import factory
from django.utils import timezone

from scheduling.models import Appointment, Slot
from tests.accounts.factories import DoctorFactory, PatientFactory


def _in_days(days: int, hour: int = 10) -> datetime:
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=hour) + timedelta(days=days)


SLOT_STEPS = 2_400


class SlotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Slot

    clinician = factory.SubFactory(DoctorFactory)
    # Half-hour steps from three days ahead, wrapping after 2,400 slots (50 days): a long
    # test process creates thousands, and a slot past the booking horizon (90 days) cannot
    # be booked. A test that makes more than 2,400 slots of one clinician sets ``start``.
    start = factory.Sequence(lambda n: _in_days(3) + timedelta(minutes=30 * (n % SLOT_STEPS)))
    end = factory.LazyAttribute(lambda o: o.start + timedelta(minutes=30))
    status = Slot.Status.OPEN


class AppointmentFactory(factory.django.DjangoModelFactory):
    """Builds the row directly; tests of behaviour book through the services instead."""

    class Meta:
        model = Appointment

    slot = factory.SubFactory(SlotFactory, status=Slot.Status.BOOKED, seats_taken=1)
    patient = factory.SubFactory(PatientFactory)
    clinician = factory.LazyAttribute(lambda o: o.slot.clinician)
    start = factory.LazyAttribute(lambda o: o.slot.start)
    end = factory.LazyAttribute(lambda o: o.slot.end)
    status = Appointment.Status.SCHEDULED


_day_offsets = itertools.count()


def appointment_for(clinician, patient, *, hours: float = 72, **fields: Any) -> Appointment:
    """An appointment about ``hours`` from now (negative: in the past) between the two.

    Each call moves a whole number of days further from now, so no two appointments
    overlap (PostgreSQL's exclusion constraints) while past ones stay past.
    """
    away = timedelta(days=next(_day_offsets))
    start = timezone.now().replace(microsecond=0) + timedelta(hours=hours)
    start = start - away if hours < 0 else start + away
    slot = SlotFactory(
        clinician=clinician,
        start=start,
        end=start + timedelta(minutes=30),
        status="booked",
        seats_taken=1,
    )
    return cast(Appointment, AppointmentFactory(slot=slot, patient=patient, **fields))
