"""Shared helpers of the waitlist tests: a clinician with a booked slot and patients
waiting for them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import cast

import pytest
from django.utils import timezone

from accounts.models import User
from core.models import OutboxEvent
from core.outbox import outbox_event_deliver
from scheduling.models import Appointment, Slot
from scheduling.services import appointment_book
from tests.factories import DoctorFactory, PatientFactory, SlotFactory
from waitlist.models import WaitlistEntry, WaitlistOffer
from waitlist.services import entry_join


def hours_ahead(hours: float):
    return timezone.now().replace(second=0, microsecond=0) + timedelta(hours=hours)


def slot_for(clinician: User, hours: float = 48, minutes: int = 30, **extra) -> Slot:
    start = hours_ahead(hours)
    made = SlotFactory(
        clinician=clinician, start=start, end=start + timedelta(minutes=minutes), **extra
    )
    return cast(Slot, made)


def join(patient: User, clinician: User, **constraints) -> WaitlistEntry:
    return entry_join(patient=patient, clinician=clinician, actor=patient, **constraints)


def live_offer(slot: Slot) -> WaitlistOffer | None:
    return WaitlistOffer.objects.filter(slot=slot, status="offered").first()


def deliver_all(name: str | None = None) -> None:
    """Run the outbox's subscribers now (what the worker does after commit)."""
    events = OutboxEvent.objects.filter(delivered_at__isnull=True)
    if name is not None:
        events = events.filter(name=name)
    for event in events.order_by("created_at"):
        outbox_event_deliver(event_id=event.id)


def booked_slot(clinician: User, hours: float = 48, **extra) -> tuple[Slot, Appointment]:
    """A slot of ``clinician`` booked by a patient of its own."""
    slot = slot_for(clinician, hours, **extra)
    return slot, appointment_book(patient=cast(User, PatientFactory()), slot_id=slot.pk)


@pytest.fixture
def doctor() -> User:
    return cast(User, DoctorFactory())


@pytest.fixture
def booked(doctor) -> Callable[..., tuple[Slot, Appointment]]:
    """``booked(hours=48)`` → a slot of ``doctor`` booked by a patient of its own."""

    def make(hours: float = 48, **extra) -> tuple[Slot, Appointment]:
        return booked_slot(doctor, hours, **extra)

    return make
