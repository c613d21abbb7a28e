"""Group sessions and series where a receptionist looks for them in the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from scheduling import services
from scheduling.models import Slot
from tests.factories import PatientFactory, StaffFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db

ADMIN = "/admin/scheduling"


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(StaffFactory.create(is_superuser=True))
    return client


def _split(moment) -> dict[str, str]:
    return {"0": moment.strftime("%Y-%m-%d"), "1": moment.strftime("%H:%M:%S")}


def test_a_group_session_is_published_with_its_capacity(admin_client, doctor):
    start = hours_from_now(48)
    form = {"clinician": doctor.pk, "mode": "in_person", "hospital": "", "capacity": 8}
    form |= {f"start_{k}": v for k, v in _split(start).items()}
    form |= {f"end_{k}": v for k, v in _split(start + timedelta(minutes=90)).items()}

    created = admin_client.post(f"{ADMIN}/slot/add/", form)
    too_big = admin_client.post(
        f"{ADMIN}/slot/add/", form | {"capacity": 51, "start_0": "2099-01-01"}
    )

    assert created.status_code == 302
    assert Slot.objects.get().capacity == 8
    assert too_big.status_code == 200  # the form again with the error
    assert Slot.objects.count() == 1


def test_the_slot_list_shows_seats_taken_and_filters_group_sessions(admin_client, doctor, slot_at):
    group = slot_at(doctor, 48, capacity=8)
    single = slot_at(doctor, 72)
    for _ in range(3):
        services.appointment_book(patient=PatientFactory.create(), slot_id=group.pk)

    listed = admin_client.get(f"{ADMIN}/slot/").content.decode()
    groups = admin_client.get(f"{ADMIN}/slot/", {"seats": "group"}).content.decode()
    singles = admin_client.get(f"{ADMIN}/slot/", {"seats": "one"}).content.decode()

    assert "3 of 8" in listed
    assert "0 of 1" in listed
    assert f"/slot/{group.pk}/change/" in groups
    assert f"/slot/{single.pk}/change/" not in groups
    assert f"/slot/{single.pk}/change/" in singles
    assert f"/slot/{group.pk}/change/" not in singles


def test_the_appointment_list_shows_the_seat_of_a_group_session(admin_client, doctor, slot_at):
    group = slot_at(doctor, 48, capacity=8)
    for _ in range(2):
        services.appointment_book(patient=PatientFactory.create(), slot_id=group.pk)

    page = admin_client.get(f"{ADMIN}/appointment/").content.decode()

    assert "1 of 8" in page
    assert "2 of 8" in page


def test_a_slot_with_a_seat_taken_cannot_be_withdrawn(admin_client, doctor, slot_at):
    group = slot_at(doctor, 48, capacity=4)
    services.appointment_book(patient=PatientFactory.create(), slot_id=group.pk)

    response = admin_client.post(
        f"{ADMIN}/slot/", {"action": "withdraw", "_selected_action": [group.pk]}, follow=True
    )

    assert "slot_booked" in response.content.decode()
    assert Slot.objects.get(pk=group.pk).status == Slot.Status.OPEN
