"""The scheduling admin: real work through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from scheduling import services
from scheduling.models import Appointment, AvailabilityRule, Slot
from tests.factories import StaffFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db

ADMIN = "/admin/scheduling"


@pytest.fixture
def staff():
    return StaffFactory(is_superuser=True)


@pytest.fixture
def admin_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def booked(doctor, patient, slot_at):
    return services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)


def _split(moment) -> dict[str, str]:
    return {"0": moment.strftime("%Y-%m-%d"), "1": moment.strftime("%H:%M:%S")}


@pytest.mark.parametrize("model", ["appointment", "slot", "availabilityrule"])
def test_changelists_search_and_filter(admin_client, booked, model):
    plain = admin_client.get(f"{ADMIN}/{model}/")
    searched = admin_client.get(f"{ADMIN}/{model}/", {"q": booked.patient.email})

    assert plain.status_code == searched.status_code == 200


def test_appointment_changelist_lists_and_filters(admin_client, booked):
    response = admin_client.get(f"{ADMIN}/appointment/", {"status__exact": "scheduled"})

    assert response.status_code == 200
    assert str(booked.patient) in response.content.decode()


def test_add_slot_goes_through_service(admin_client, doctor):
    start = hours_from_now(48)
    end = start + timedelta(minutes=30)
    form = {"clinician": doctor.pk, "mode": "video", "hospital": ""}
    form |= {f"start_{k}": v for k, v in _split(start).items()}
    form |= {f"end_{k}": v for k, v in _split(end).items()}

    created = admin_client.post(f"{ADMIN}/slot/add/", form)
    clash = admin_client.post(f"{ADMIN}/slot/add/", form)

    assert created.status_code == 302
    slot = Slot.objects.get()
    assert (slot.start, slot.end, slot.mode) == (start, end, "video")
    assert clash.status_code == 200  # the form again, with the service's error
    assert "slot_overlap" in clash.content.decode()
    assert Slot.objects.count() == 1


def test_add_rule_expands_slots(admin_client, doctor):
    today = hours_from_now(0).date()
    form = {
        "clinician": doctor.pk,
        "weekday": (today.weekday() + 3) % 7,
        "start_time": "09:00",
        "end_time": "10:00",
        "time_zone": "Europe/London",
        "slot_minutes": 30,
        "buffer_minutes": 0,
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=6)).isoformat(),
        "mode": "in_person",
    }

    response = admin_client.post(f"{ADMIN}/availabilityrule/add/", form)
    bad = admin_client.post(f"{ADMIN}/availabilityrule/add/", form | {"time_zone": "Mars/Base"})

    assert response.status_code == 302
    rule = AvailabilityRule.objects.get()
    assert Slot.objects.filter(rule=rule).count() == 2
    assert bad.status_code == 200
    assert AvailabilityRule.objects.count() == 1


def test_edit_appointment_notes_but_not_status(admin_client, booked):
    response = admin_client.post(
        f"{ADMIN}/appointment/{booked.pk}/change/",
        {"reason": "Follow-up", "notes": "Bring results", "status": "completed"},
    )

    assert response.status_code == 302
    booked.refresh_from_db()
    assert (booked.reason, booked.notes, booked.status) == (
        "Follow-up",
        "Bring results",
        "scheduled",
    )


def test_confirm_action(admin_client, booked):
    response = admin_client.post(
        f"{ADMIN}/appointment/", {"action": "confirm", "_selected_action": [booked.pk]}
    )

    assert response.status_code == 302
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CONFIRMED


def test_cancel_with_reason_asks_then_cancels(admin_client, staff, booked):
    selection = {"action": "cancel_with_reason", "_selected_action": [booked.pk]}

    asked = admin_client.post(f"{ADMIN}/appointment/", selection)
    booked.refresh_from_db()
    status_after_asking = booked.status
    done = admin_client.post(
        f"{ADMIN}/appointment/", selection | {"apply": "1", "reason": "Clinic closed"}
    )

    assert asked.status_code == 200
    assert "Clinic closed" not in asked.content.decode()
    assert status_after_asking == Appointment.Status.SCHEDULED
    assert done.status_code == 302
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CANCELLED
    assert (booked.cancellation_reason, booked.cancelled_by) == ("Clinic closed", staff)
    assert Slot.objects.get(pk=booked.slot_id).status == Slot.Status.OPEN


def test_withdraw_action_refuses_booked_slot(admin_client, booked, slot_at, doctor):
    free = slot_at(doctor, 96)

    response = admin_client.post(
        f"{ADMIN}/slot/",
        {"action": "withdraw", "_selected_action": [booked.slot_id, free.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "Withdrew 1." in page
    assert "slot_booked" in page
    assert Slot.objects.get(pk=booked.slot_id).status == Slot.Status.BOOKED
    assert Slot.objects.get(pk=free.pk).status == Slot.Status.WITHDRAWN


def test_no_add_or_delete_of_appointments(admin_client, booked):
    add = admin_client.get(f"{ADMIN}/appointment/add/")
    delete = admin_client.post(f"{ADMIN}/appointment/{booked.pk}/delete/", {"post": "yes"})

    assert add.status_code == 403
    assert delete.status_code == 403
    assert Appointment.objects.filter(pk=booked.pk).exists()
