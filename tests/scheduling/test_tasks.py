"""The beat task rolls weekly rules forward as the horizon moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import time_machine
from django.test import override_settings

from scheduling import services
from scheduling.models import Slot
from scheduling.tasks import rules_expand_active
from tests.factories import DoctorFactory

pytestmark = pytest.mark.django_db


@override_settings(SCHEDULING_RULE_HORIZON_DAYS=14)
def test_expand_rules_task_extends_to_the_moving_horizon():
    doctor = DoctorFactory(time_zone="UTC")
    with time_machine.travel(datetime(2027, 5, 3, 6, 0, tzinfo=UTC), tick=False):
        rule, first = services.rule_create(
            clinician=doctor,
            weekday=0,
            start_time=time(9, 0),
            end_time=time(9, 30),
            valid_from=date(2027, 5, 1),
        )
        ended, _ = services.rule_create(
            clinician=doctor,
            weekday=1,
            start_time=time(9, 0),
            end_time=time(9, 30),
            valid_from=date(2027, 5, 1),
            valid_until=date(2027, 5, 5),
        )

    with time_machine.travel(datetime(2027, 5, 17, 6, 0, tzinfo=UTC), tick=False):
        created = rules_expand_active()
        again = rules_expand_active()

    mondays = sorted(Slot.objects.filter(rule=rule).values_list("start", flat=True))
    assert [m.date() for m in mondays] == [date(2027, 5, d) for d in (3, 10, 17, 24, 31)]
    assert len(first.created) == 3
    assert (created, again) == (2, 0)
    assert Slot.objects.filter(rule=ended).count() == 1
