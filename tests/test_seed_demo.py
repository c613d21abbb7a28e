"""The demo-data command that ``make run`` loads: complete, plausible and idempotent."""

from __future__ import annotations

from datetime import time
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Model

from accounts.models import ClinicianProfile, Hospital, Role, User
from scheduling.management.commands.seed_demo import DEMO_PASSWORD, DEMO_TIME_ZONE
from scheduling.models import Appointment, AvailabilityRule, Slot

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


SEEDED_MODELS: list[type[Model]] = [
    User, Hospital, ClinicianProfile, AvailabilityRule, Slot, Appointment
]  # fmt: skip


def snapshot() -> dict[str, list[dict]]:
    return {
        model.__name__: list(model._default_manager.order_by("pk").values())
        for model in SEEDED_MODELS
    }


def test_seed_creates_the_demo_world():
    # when the demo data is loaded into an empty database
    output = seed()

    # then people of every role exist, with obviously fake addresses
    roles = list(User.objects.values_list("role", flat=True))
    assert roles.count(Role.DOCTOR) == 2
    assert roles.count(Role.PSYCHOLOGIST) == 2
    assert roles.count(Role.PATIENT) >= 4
    assert User.objects.filter(role=Role.STAFF, is_staff=True, is_superuser=True).count() == 1
    assert all(email.endswith(".test") for email in User.objects.values_list("email", flat=True))
    assert Hospital.objects.count() == 1
    assert ClinicianProfile.objects.filter(hospital__isnull=False).count() == 4

    # and every login printed works with the printed password
    for user in User.objects.all():
        assert user.email in output
        assert user.check_password(DEMO_PASSWORD)
    assert DEMO_PASSWORD in output


def test_seed_publishes_two_weeks_of_weekly_availability_in_local_time():
    seed()

    rules = AvailabilityRule.objects.all()
    assert rules.count() == 4 * 5  # four clinicians, Monday to Friday
    assert {rule.time_zone for rule in rules} == {DEMO_TIME_ZONE}
    for rule in rules:
        assert (rule.valid_until - rule.valid_from).days == 13

    slots = Slot.objects.select_related("rule")
    days = {slot.start.date() for slot in slots}
    assert len(days) >= 9  # ten weekdays in two weeks, less today's past hours
    assert slots.count() > 0
    for slot in slots:
        # each slot sits inside its rule's hours on the rule's weekday, in local time
        local_start = slot.start.astimezone(ZoneInfo(slot.rule.time_zone))
        assert slot.rule.start_time <= local_start.time() < slot.rule.end_time
        assert local_start.weekday() == slot.rule.weekday


def test_seed_books_some_appointments_through_the_services():
    seed()

    appointments = Appointment.objects.select_related("slot")
    statuses = sorted(appointments.values_list("status", flat=True))
    assert statuses.count(Appointment.Status.CONFIRMED) == 1
    assert statuses.count(Appointment.Status.CANCELLED) == 1
    assert statuses.count(Appointment.Status.SCHEDULED) >= 2
    for appointment in appointments:
        assert appointment.patient.role == Role.PATIENT
        assert appointment.clinician_id == appointment.slot.clinician_id
        expected = Slot.Status.OPEN if not appointment.is_active else Slot.Status.BOOKED
        assert appointment.slot.status == expected


def test_running_it_twice_changes_nothing():
    # given the demo data was loaded
    seed()
    before = snapshot()

    # when it is loaded again
    output = seed()

    # then the database is exactly as it was
    assert snapshot() == before
    assert "nothing changed" in output


def test_refuses_to_run_in_production(settings):
    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        seed()
    assert not User.objects.exists()


def test_demo_hours_are_plausible_clinic_hours():
    seed()
    for rule in AvailabilityRule.objects.all():
        assert time(8) <= rule.start_time < rule.end_time <= time(19)
