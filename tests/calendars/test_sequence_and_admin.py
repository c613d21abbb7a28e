"""The database raises an appointment's SEQUENCE whoever writes; staff see feeds in the
admin (never a hash) and revoke them through the service."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.staff_group import staff_group_sync
from audit.models import AuditEvent
from calendars.models import CalendarFeed
from scheduling.models import Appointment
from tests.calendars.conftest import issue_feed, read_feed
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db


def sequence_of(appointment: Appointment) -> int:
    return Appointment.objects.values_list("sequence", flat=True).get(pk=appointment.pk)


def staff_member():
    """A staff account with the staff group's permissions (synced as after migrate)."""
    person = StaffFactory()
    staff_group_sync()
    return person


def test_every_write_raises_the_sequence_and_none_can_lower_it():
    # given a new appointment (sequence 0)
    appointment = AppointmentFactory()
    assert sequence_of(appointment) == 0

    # when it is changed by a plain UPDATE that knows nothing of sequences
    Appointment.objects.filter(pk=appointment.pk).update(notes="seen")
    assert sequence_of(appointment) == 1

    # and when a stale copy is saved whole, its old sequence written back
    appointment.notes = "again"
    appointment.save()  # the instance still holds 0

    # then the database raised it from its own value, never lowering it
    assert sequence_of(appointment) == 2
    Appointment.objects.filter(pk=appointment.pk).update(sequence=0, notes="lower?")
    assert sequence_of(appointment) == 3


@pytest.mark.postgres
def test_an_update_that_changes_nothing_leaves_the_sequence():
    appointment = AppointmentFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE scheduling_appointment SET status = status WHERE id = %s", [appointment.pk]
        )
    assert sequence_of(appointment) == 0


def test_staff_list_feeds_without_their_hash_and_cannot_edit(client, client_for):
    doctor = DoctorFactory(email="dana@example.test")
    issue_feed(client_for(doctor))
    feed = CalendarFeed.objects.get(owner=doctor)
    client.force_login(staff_member())

    listing = client.get("/admin/calendars/calendarfeed/")
    detail = client.get(f"/admin/calendars/calendarfeed/{feed.pk}/change/")

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert str(doctor) in listing.content.decode()
    assert detail.status_code == 200
    for page in (listing, detail):
        assert feed.token_hash not in page.content.decode()
    assert client.get("/admin/calendars/calendarfeed/add/").status_code == 403
    delete = client.get(f"/admin/calendars/calendarfeed/{feed.pk}/delete/")
    assert delete.status_code == 403


def test_staff_revoke_feeds_with_the_admin_action(client, client_for):
    # given two feeds
    doctor, patient = DoctorFactory(), PatientFactory()
    doctors_path = issue_feed(client_for(doctor))
    patients_path = issue_feed(client_for(patient))
    staff = staff_member()
    client.force_login(staff)
    feed = CalendarFeed.objects.get(owner=doctor)

    # when staff revoke the doctor's from the change list
    response = client.post(
        "/admin/calendars/calendarfeed/",
        {"action": "revoke", "_selected_action": [feed.pk]},
        follow=True,
    )

    # then its URL answers 404, the other still works, and the revocation names staff
    assert response.status_code == 200
    assert "Revoked 1 calendar feed" in response.content.decode()
    assert read_feed(doctors_path).status_code == 404
    assert read_feed(patients_path).status_code == 200
    row = AuditEvent.objects.get(action="calendar_feed.revoke")
    assert row.actor_id == staff.pk
    assert row.metadata == {"owner_id": doctor.pk}
