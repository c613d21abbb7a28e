"""The hand-built output dicts equal DRF's generic rendering of the same declarations.

SlotOutput, PersonOutput and AppointmentOutput build their dicts by hand for speed
(scheduling/serializers.py); DRF's ``ModelSerializer.to_representation`` walking the
declared fields is the reference. A field added to ``Meta.fields`` and not to the
hand-built dict fails here.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework import serializers

from accounts.models import Role
from scheduling.models import Appointment, Slot
from scheduling.selectors import appointments_list, slots_list
from scheduling.serializers import AppointmentOutput, PersonOutput, SlotOutput
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    HospitalFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db


def generic(serializer: serializers.ModelSerializer, instance) -> dict:
    """DRF's own field-by-field rendering, bypassing the hand-built override."""
    return dict(serializers.ModelSerializer.to_representation(serializer, instance))


def varied_appointments():
    doctor, psychologist = DoctorFactory(first_name="Ada", last_name=""), PsychologistFactory()
    hospital = HospitalFactory()
    now = timezone.now().replace(microsecond=123456)
    cancelled = AppointmentFactory(
        slot=SlotFactory(clinician=doctor, hospital=hospital, mode="in_person"),
        status=Appointment.Status.CANCELLED,
        cancelled_at=now,
        cancellation_reason="Feeling better ✓",
        reason="Check-up",
        notes="Clinician-only note",
    )
    cancelled.cancelled_by = cancelled.patient
    cancelled.save()
    confirmed = AppointmentFactory(
        slot=SlotFactory(clinician=psychologist, mode="video"),
        status=Appointment.Status.CONFIRMED,
        confirmed_at=now - timedelta(hours=1),
    )
    plain = AppointmentFactory(slot=SlotFactory(clinician=doctor))
    return [cancelled, confirmed, plain]


@pytest.mark.parametrize("role", [Role.PATIENT, Role.DOCTOR, Role.STAFF])
def test_appointment_output_matches_drf_for_every_viewer(role):
    appointments = varied_appointments()
    viewer = {Role.PATIENT: PatientFactory, Role.DOCTOR: DoctorFactory}.get(role, StaffFactory)()
    for appointment in appointments_list(user=StaffFactory()):
        serializer = AppointmentOutput(context={"viewer": viewer})
        expected = generic(serializer, appointment)
        if role == Role.PATIENT:
            expected.pop("notes")
        assert serializer.to_representation(appointment) == expected
    assert len(appointments) == 3


def test_appointment_output_of_a_fully_loaded_row_matches_too():
    (appointment, *_) = varied_appointments()
    fresh = Appointment.objects.get(pk=appointment.pk)  # every column, relations lazily
    serializer = AppointmentOutput(context={"viewer": StaffFactory()})
    assert serializer.to_representation(fresh) == generic(serializer, fresh)


def test_slot_and_person_outputs_match_drf():
    slots = [
        SlotFactory(hospital=HospitalFactory(), mode="video"),
        SlotFactory(status=Slot.Status.WITHDRAWN),
    ]
    for slot in slots_list(user=StaffFactory()):
        assert SlotOutput().to_representation(slot) == generic(SlotOutput(), slot)
        clinician = slot.clinician
        assert PersonOutput().to_representation(clinician) == generic(PersonOutput(), clinician)
    assert len(slots) == 2


def test_times_follow_the_current_time_zone_as_drf_does():
    slot = SlotFactory()
    with timezone.override(ZoneInfo("America/New_York")):
        hand_built = SlotOutput().to_representation(slot)
        assert hand_built == generic(SlotOutput(), slot)
    assert hand_built["start"].endswith(("-05:00", "-04:00"))
    assert SlotOutput().to_representation(slot)["start"].endswith("Z")


def as_sent(document, *, list_view=False):
    """The response body the API's renderer writes for ``document`` (a list view's)."""
    from core.lists import CompiledListMixin
    from core.renderers import FastJSONRenderer

    view = CompiledListMixin() if list_view else None
    return FastJSONRenderer().render(document, renderer_context={"view": view})


@pytest.mark.parametrize("role", [Role.PATIENT, Role.DOCTOR, Role.STAFF])
def test_list_rows_render_as_the_detail_does(role):
    # given appointments of every kind, and a viewer of each role
    from core.sql import CompiledRows
    from scheduling.selectors import APPOINTMENT_ROW_COLUMNS, appointment_list_query
    from scheduling.serializers import appointment_rows_output

    varied_appointments()
    viewer = {Role.PATIENT: PatientFactory, Role.DOCTOR: DoctorFactory}.get(role, StaffFactory)()
    staff = StaffFactory()
    listed = appointments_list(user=staff)
    # when the list page is read as plain rows
    page = CompiledRows(appointment_list_query(user=staff, filters={}), APPOINTMENT_ROW_COLUMNS)
    rows = appointment_rows_output(page[0:50], viewer=viewer)
    # then each row is the detail body of that appointment for that viewer, as sent
    serializer = AppointmentOutput(context={"viewer": viewer})
    details = [serializer.to_representation(appointment) for appointment in listed]
    assert as_sent(rows, list_view=True) == as_sent(details)
    assert len(rows) == 3
    assert ("notes" in rows[0]) is (role != Role.PATIENT)


def test_list_rows_are_counted_without_joins():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.sql import CompiledRows
    from scheduling.selectors import APPOINTMENT_ROW_COLUMNS, appointment_list_query

    varied_appointments()
    listed = appointment_list_query(user=StaffFactory(), filters={})
    with CaptureQueriesContext(connection) as queries:
        assert CompiledRows(listed, APPOINTMENT_ROW_COLUMNS).count() == 3
    (count_sql,) = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert "JOIN" not in count_sql
