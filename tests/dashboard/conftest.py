"""Fixtures of the dashboard tests: signed-in Django test clients and a small clinic."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import User
from scheduling.models import Appointment, Slot
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
)

# A zone far from UTC, so a page that forgot to convert shows the wrong hour.
CLINICIAN_ZONE = "America/New_York"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Report files of each test live in its own MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def web() -> Callable[[User | None], Client]:
    """``web(user)`` → a Django test client with ``user`` signed in (None: anonymous)."""

    def make(user: User | None = None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def psychologist() -> User:
    return PsychologistFactory.create(time_zone=CLINICIAN_ZONE, first_name="Pia", last_name="Psych")


@pytest.fixture
def doctor() -> User:
    return DoctorFactory.create(time_zone=CLINICIAN_ZONE, first_name="Dora", last_name="Doctor")


@pytest.fixture
def other_clinician() -> User:
    return PsychologistFactory.create(first_name="Otto", last_name="Other")


@pytest.fixture
def patient() -> User:
    return PatientFactory.create(first_name="Cleo", last_name="Client")


@pytest.fixture
def staff() -> User:
    return StaffFactory.create()


def book(
    clinician: User, patient: User, start: datetime, minutes: int = 50, **fields
) -> Appointment:
    """An appointment row (with its booked slot) at ``start``; behaviour tests use services."""
    slot = SlotFactory(
        clinician=clinician,
        start=start,
        end=start + timedelta(minutes=minutes),
        status=Slot.Status.BOOKED,
    )
    return AppointmentFactory.create(slot=slot, patient=patient, **fields)


def local_today_at(user: User, hour: int, minute: int = 0) -> datetime:
    """Today at ``hour:minute`` on the user's wall clock, as an aware datetime."""
    now = timezone.now().astimezone(user.tzinfo)
    return now.replace(hour=hour, minute=minute, second=0, microsecond=0)


# A fixed working day: 15:00 UTC is 11:00 in New York (EDT), mid-morning, mid-week.
NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def frozen_now() -> Iterator[datetime]:
    with time_machine.travel(NOW, tick=False):
        yield NOW
