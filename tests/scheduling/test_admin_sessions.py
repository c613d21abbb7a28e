"""Group sessions and series where a receptionist looks for them in the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from audit.models import AuditEvent
from scheduling import services
from scheduling.models import Slot
from scheduling.services.series import series_book
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


# --- series ------------------------------------------------------------------------------


@pytest.fixture
def course(doctor, patient, slot_at):
    """A weekly series of four booked for ``patient``: slots a week apart from 48 h on."""
    first = slot_at(doctor, 48)
    for week in (1, 2, 3):
        slot_at(doctor, 48 + 24 * 7 * week)
    return series_book(patient=patient, slot_id=first.pk, count=4).series


def test_the_series_list_and_page_show_the_course_and_its_occurrences(admin_client, course):
    listed = admin_client.get(f"{ADMIN}/appointmentseries/").content.decode()
    page = admin_client.get(f"{ADMIN}/appointmentseries/{course.pk}/change/")

    assert "4 of 4" in listed  # active occurrences of the count
    html = page.content.decode()
    assert page.status_code == 200
    for appointment in course.appointments.all():
        assert f"/appointment/{appointment.pk}/change/" in html
    assert f"?series__id__exact={course.pk}" in html
    assert "Save" not in html  # read-only


def test_the_appointment_list_links_and_filters_by_series(admin_client, course, doctor, slot_at):
    single = services.appointment_book(
        patient=PatientFactory.create(), slot_id=slot_at(doctor, 60).pk
    )

    in_series = admin_client.get(f"{ADMIN}/appointment/", {"in_series": "yes"}).content.decode()
    alone = admin_client.get(f"{ADMIN}/appointment/", {"in_series": "no"}).content.decode()
    of_course = admin_client.get(f"{ADMIN}/appointment/", {"series__id__exact": course.pk})

    assert f"/appointmentseries/{course.pk}/change/" in in_series
    assert f"/appointment/{single.pk}/change/" not in in_series
    assert f"/appointment/{single.pk}/change/" in alone
    assert of_course.status_code == 200
    assert of_course.content.decode().count(f"Series #{course.pk}") == 4


def test_cancel_a_series_from_the_series_list(admin_client, course):
    response = admin_client.post(
        f"{ADMIN}/appointmentseries/",
        {"action": "cancel_series", "_selected_action": [course.pk]},
        follow=True,
    )

    assert "Cancelled the remaining occurrences of 1." in response.content.decode()
    statuses = set(course.appointments.values_list("status", flat=True))
    assert statuses == {"cancelled"}
    assert not Slot.objects.filter(status=Slot.Status.BOOKED).exists()
    assert AuditEvent.objects.filter(action="series.cancel").count() == 1


def test_cancel_this_and_following_from_the_third_occurrence(admin_client, course):
    occurrences = list(course.appointments.order_by("start"))

    admin_client.post(
        f"{ADMIN}/appointment/",
        {"action": "cancel_series_from_here", "_selected_action": [occurrences[2].pk]},
    )

    statuses = [a.status for a in course.appointments.order_by("start")]
    assert statuses == ["scheduled", "scheduled", "cancelled", "cancelled"]
    freed = [Slot.objects.get(pk=a.slot_id).status for a in occurrences]
    assert freed == ["booked", "booked", "open", "open"]


def test_cancel_from_here_on_a_single_appointment_is_a_message(admin_client, doctor, slot_at):
    single = services.appointment_book(
        patient=PatientFactory.create(), slot_id=slot_at(doctor, 60).pk
    )

    response = admin_client.post(
        f"{ADMIN}/appointment/",
        {"action": "cancel_series_from_here", "_selected_action": [single.pk]},
        follow=True,
    )

    assert "belong to no series" in response.content.decode()
    single.refresh_from_db()
    assert single.status == "scheduled"


def test_no_add_or_delete_of_series(admin_client, course):
    assert admin_client.get(f"{ADMIN}/appointmentseries/add/").status_code == 403
    deleted = admin_client.post(f"{ADMIN}/appointmentseries/{course.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
