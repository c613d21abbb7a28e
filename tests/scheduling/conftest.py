from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.factories import DoctorFactory, PatientFactory, SlotFactory


def hours_from_now(hours: float) -> datetime:
    return timezone.now().replace(second=0, microsecond=0) + timedelta(hours=hours)


@pytest.fixture
def doctor():
    return DoctorFactory()


@pytest.fixture
def patient():
    return PatientFactory()


@pytest.fixture
def slot_at():
    """``slot_at(clinician, hours_ahead, minutes=30)`` → an open slot that far ahead."""

    def make(clinician, hours: float, minutes: int = 30, **extra):
        start = hours_from_now(hours)
        return SlotFactory(
            clinician=clinician, start=start, end=start + timedelta(minutes=minutes), **extra
        )

    return make
