"""The offer path's compiled reads (``core.sql.first_row`` and ``rows_of``): the
same rows as the ORM's for the same values, and a refusal when a value is not only a
parameter of the statement."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

import pytest
from django.db import connection
from django.db.models import F

from accounts.models import User
from core.sql import first_row, rows_of
from notifications.models import NotificationPreference
from scheduling.models import Mode
from scheduling.services import appointment_book
from tests.factories import DoctorFactory, PatientFactory
from tests.waitlist.conftest import join, slot_for
from waitlist.models import WaitlistEntry, WaitlistOffer
from waitlist.services import (
    FIRST_CANDIDATES,
    _candidate_values,
    _first_candidates,
    _slot_live_offer,
    slot_offer_next,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def patient(**fields: Any) -> User:
    return cast(User, PatientFactory(**fields))


def orm_rows(values: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_first_candidates(values))


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    weekdays = row["entry_weekdays"]
    return {
        **row,
        "entry_weekdays": json.loads(weekdays) if isinstance(weekdays, str) else weekdays,
    }


def test_the_compiled_candidate_read_returns_the_orms_rows_slot_after_slot():
    doctor = cast(User, DoctorFactory())
    slot = slot_for(doctor, hours=72)
    day = slot.start.date()
    busy = patient()
    join(busy, doctor)  # booked elsewhere at that very time: left out
    appointment_book(patient=busy, slot_id=slot_for(cast(User, DoctorFactory()), hours=72).pk)
    join(patient(), doctor, mode=Mode.VIDEO)
    join(patient(), doctor, not_before=day + timedelta(days=2))
    join(patient(), doctor, not_after=day - timedelta(days=2))
    sleeper = patient(time_zone="Asia/Tokyo")
    join(sleeper, doctor, weekdays=[day.weekday()], priority=5)
    NotificationPreference.objects.create(
        user=sleeper, quiet_start=slot.start.time(), quiet_end=slot.end.time()
    )
    for _ in range(FIRST_CANDIDATES):
        join(patient(), doctor)
    other_slot = slot_for(doctor, hours=96, mode=Mode.VIDEO)

    for each in (slot, other_slot):
        values = _candidate_values(each)
        compiled = rows_of(_first_candidates, values, model=WaitlistEntry)
        assert [comparable(row) for row in compiled] == orm_rows(values)
        assert len(compiled) == FIRST_CANDIDATES
    first = rows_of(_first_candidates, _candidate_values(slot), model=WaitlistEntry)[0]
    assert first["entry_patient_id"] == sleeper.pk  # priority first
    assert (first["quiet_start"], first["patient_time_zone"]) == (slot.start.time(), "Asia/Tokyo")


def test_the_compiled_live_offer_read_follows_the_offer():
    doctor = cast(User, DoctorFactory())
    waiting = patient()
    join(waiting, doctor)
    slot = slot_for(doctor)
    assert first_row(_slot_live_offer, slot.pk, model=WaitlistOffer) is None
    offer = slot_offer_next(slot_id=slot.pk)
    assert offer is not None
    assert first_row(_slot_live_offer, slot.pk, model=WaitlistOffer) == (
        offer.pk,
        offer.expires_at,
    )


def _not_only_a_parameter(values: Any) -> Any:
    return WaitlistEntry.objects.filter(pk=values["entry_id"] + 1).values(pk_=F("pk"))


def _value_in_the_text(values: Any) -> Any:
    where = [f"id = {values['entry_id']}"]  # the value in the text: what rows_of refuses
    return WaitlistEntry.objects.extra(where=where).values("pk")  # noqa: S610


@pytest.mark.parametrize("build", [_not_only_a_parameter, _value_in_the_text])
def test_a_value_that_is_not_only_a_parameter_is_refused(build):
    assert connection.vendor == "postgresql"
    with pytest.raises(RuntimeError, match="not only a parameter"):
        rows_of(build, {"entry_id": 3}, model=WaitlistEntry)
