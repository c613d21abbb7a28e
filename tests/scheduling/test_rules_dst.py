"""Weekly rules expand at the same local wall-clock time across daylight-saving changes."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.test import override_settings

from core.errors import DomainError
from scheduling import services
from scheduling.models import Slot
from tests.factories import DoctorFactory, SlotFactory

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _local(slots, zone) -> list[tuple[date, time]]:
    return [(s.start.astimezone(zone).date(), s.start.astimezone(zone).time()) for s in slots]


@time_machine.travel(datetime(2027, 3, 10, 12, 0, tzinfo=UTC), tick=False)
def test_london_rule_across_late_march_keeps_wall_clock():
    # Given a London doctor with a Friday 09:00-10:00 rule; clocks go forward on 28 March 2027
    doctor = DoctorFactory(time_zone="Europe/London")

    # When the rule is created (expanded over the next weeks)
    rule, expansion = services.rule_create(
        clinician=doctor,
        weekday=4,
        start_time=time(9, 0),
        end_time=time(10, 0),
        slot_minutes=30,
        valid_from=date(2027, 3, 1),
        valid_until=date(2027, 4, 9),
    )

    # Then every Friday has 09:00 and 09:30 local, whatever the UTC offset
    slots = sorted(expansion.created, key=lambda s: s.start)
    fridays = [date(2027, 3, 12) + timedelta(weeks=n) for n in range(5)]
    assert _local(slots, LONDON) == [(d, t) for d in fridays for t in (time(9), time(9, 30))]
    before, after = slots[4], slots[6]  # 26 March (GMT) and 2 April (BST)
    assert before.start == datetime(2027, 3, 26, 9, 0, tzinfo=UTC)
    assert after.start == datetime(2027, 4, 2, 8, 0, tzinfo=UTC)
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)
    assert rule.time_zone == "Europe/London"
    assert Slot.objects.filter(rule=rule).count() == 10


@time_machine.travel(datetime(2027, 10, 20, 12, 0, tzinfo=UTC), tick=False)
def test_new_york_rule_across_early_november_keeps_wall_clock():
    doctor = DoctorFactory(time_zone="America/New_York")

    _, expansion = services.rule_create(
        clinician=doctor,
        weekday=0,
        start_time=time(9, 0),
        end_time=time(9, 45),
        slot_minutes=45,
        valid_from=date(2027, 10, 25),
        valid_until=date(2027, 11, 15),
    )

    slots = sorted(expansion.created, key=lambda s: s.start)
    assert _local(slots, NEW_YORK) == [
        (date(2027, 10, 25), time(9)),
        (date(2027, 11, 1), time(9)),
        (date(2027, 11, 8), time(9)),
        (date(2027, 11, 15), time(9)),
    ]
    assert [s.start.astimezone(UTC).hour for s in slots] == [13, 13, 14, 14]


@time_machine.travel(datetime(2027, 3, 20, 12, 0, tzinfo=UTC), tick=False)
def test_nonexistent_local_times_are_skipped_and_reported():
    # Given a Sunday rule over the hour London skips (01:00-02:00 on 28 March 2027)
    doctor = DoctorFactory(time_zone="Europe/London")

    _, expansion = services.rule_create(
        clinician=doctor,
        weekday=6,
        start_time=time(0, 30),
        end_time=time(2, 30),
        slot_minutes=30,
        valid_from=date(2027, 3, 28),
        valid_until=date(2027, 3, 28),
    )

    assert expansion.skipped_nonexistent == ["2027-03-28T01:00:00", "2027-03-28T01:30:00"]
    assert _local(sorted(expansion.created, key=lambda s: s.start), LONDON) == [
        (date(2027, 3, 28), time(0, 30)),
        (date(2027, 3, 28), time(2, 0)),
    ]


@time_machine.travel(datetime(2027, 10, 30, 12, 0, tzinfo=UTC), tick=False)
def test_repeated_local_hour_makes_no_overlapping_slots():
    # New York repeats 01:00-02:00 on 7 November 2027; the first occurrence is used
    doctor = DoctorFactory(time_zone="America/New_York")

    _, expansion = services.rule_create(
        clinician=doctor,
        weekday=6,
        start_time=time(0, 0),
        end_time=time(3, 0),
        slot_minutes=60,
        valid_from=date(2027, 11, 7),
        valid_until=date(2027, 11, 7),
    )

    starts = sorted(s.start for s in expansion.created)
    assert [s.astimezone(UTC).hour for s in starts] == [4, 5, 7]  # 00:00 EDT, 01:00 EDT, 02:00 EST
    assert expansion.conflicts == []


@time_machine.travel(datetime(2027, 5, 3, 6, 0, tzinfo=UTC), tick=False)
def test_expansion_is_repeatable_and_reports_conflicts():
    doctor = DoctorFactory(time_zone="UTC")
    clash = SlotFactory(
        clinician=doctor,
        start=datetime(2027, 5, 10, 9, 15, tzinfo=UTC),
        end=datetime(2027, 5, 10, 9, 45, tzinfo=UTC),
    )

    rule, first = services.rule_create(
        clinician=doctor,
        weekday=0,
        start_time=time(9, 0),
        end_time=time(10, 0),
        slot_minutes=30,
        valid_from=date(2027, 5, 3),
        valid_until=date(2027, 5, 17),
    )
    second = services.rule_expand(rule_id=rule.pk)

    assert len(first.created) == 4  # 3 Mondays x 2, less the 2 that clash on 10 May
    assert [c["conflicting_slot"] for c in first.conflicts] == [clash.pk, clash.pk]
    assert first.conflicts[0]["start"] == "2027-05-10T09:00:00Z"
    assert second.created == []
    assert second.already_present == 4
    assert Slot.objects.filter(clinician=doctor).count() == 5


@time_machine.travel(datetime(2027, 5, 3, 6, 0, tzinfo=UTC), tick=False)
def test_buffer_and_horizon():
    doctor = DoctorFactory(time_zone="UTC")

    with override_settings(SCHEDULING_RULE_HORIZON_DAYS=7):
        _, expansion = services.rule_create(
            clinician=doctor,
            weekday=2,
            start_time=time(9, 0),
            end_time=time(11, 0),
            slot_minutes=30,
            buffer_minutes=15,
            valid_from=date(2027, 1, 1),
        )

    assert [s.start.strftime("%m-%d %H:%M") for s in expansion.created] == [
        "05-05 09:00",
        "05-05 09:45",
        "05-05 10:30",
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"end_time": time(8, 0)}, "end_time"),
        ({"slot_minutes": 90}, "slot_minutes"),
        ({"valid_until": date(2020, 1, 1)}, "valid_until"),
    ],
)
def test_invalid_rules_create_nothing(changes, field):
    doctor = DoctorFactory()
    arguments = {
        "clinician": doctor,
        "weekday": 1,
        "start_time": time(9, 0),
        "end_time": time(10, 0),
        "valid_from": date(2027, 1, 1),
        **changes,
    }

    with pytest.raises(DomainError) as excinfo:
        services.rule_create(**arguments)

    assert field in excinfo.value.details["fields"]
    assert not Slot.objects.exists()
