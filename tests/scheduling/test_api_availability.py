"""Availability API: publish, rules, list with filters, withdraw."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling import services
from scheduling.models import AvailabilityRule, Slot
from scheduling.serializers import SlotOutput
from tests.factories import (
    DoctorFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
)
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db

URL = "/api/v1/availability/"


def _slots() -> list[tuple]:
    return list(Slot.objects.order_by("pk").values_list("pk", "start", "end", "status"))


# --- publish ---------------------------------------------------------------------------


def test_publish_split_into_slots(client_for, doctor):
    start = hours_from_now(48)

    response = client_for(doctor).post(
        URL,
        {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "slot_minutes": 20,
            "mode": "video",
        },
    )

    assert response.status_code == 201
    slots = response.json()["slots"]
    assert len(slots) == 3
    assert {s["mode"] for s in slots} == {"video"}
    assert {s["status"] for s in slots} == {"open"}
    assert all(s["clinician"] == doctor.pk for s in slots)
    assert Slot.objects.filter(clinician=doctor).count() == 3


def test_publish_with_offset_is_stored_in_utc(client_for):
    psychologist = PsychologistFactory()
    start = hours_from_now(48).replace(hour=9, minute=0)
    local = start.strftime("%Y-%m-%dT09:00:00+02:00")
    end = start.strftime("%Y-%m-%dT09:30:00+02:00")

    response = client_for(psychologist).post(URL, {"start": local, "end": end})

    assert response.status_code == 201
    assert response.json()["slots"][0]["start"] == start.strftime("%Y-%m-%dT07:00:00Z")


def test_publish_overlap_is_409_and_creates_nothing(client_for, doctor, slot_at):
    existing = slot_at(doctor, 48, minutes=60)
    before = _slots()

    response = client_for(doctor).post(
        URL,
        {
            "start": (existing.start + timedelta(minutes=30)).isoformat(),
            "end": (existing.end + timedelta(minutes=30)).isoformat(),
        },
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "slot_overlap"
    assert error["details"]["conflicting_slots"] == [existing.pk]
    assert _slots() == before


@pytest.mark.parametrize("factory", [PatientFactory, StaffFactory])
def test_publish_by_non_clinician_is_403(client_for, factory):
    start = hours_from_now(48)

    response = client_for(factory()).post(
        URL, {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    )

    assert response.status_code == 403
    assert not Slot.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "start"),
        ({"start": "2030-01-01T09:00:00", "end": "2030-01-01T10:00:00Z"}, "start"),
        ({"start": "tomorrow", "end": "2030-01-01T10:00:00Z"}, "start"),
        ({"start": 5, "end": "2030-01-01T10:00:00Z"}, "start"),
        ({"start": "9999-12-31T23:00:00-05:00", "end": "9999-12-31T23:30:00-05:00"}, "start"),
        ({"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "mode": "x"}, "mode"),
        (
            {"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "slot_minutes": 1},
            "slot_minutes",
        ),
        (
            {"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "hospital": 10**12},
            "hospital",
        ),
        (
            {"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "colour": "red"},
            "colour",
        ),
    ],
)
def test_publish_invalid_fields_are_400(client_for, doctor, body, field):
    response = client_for(doctor).post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]
    assert not Slot.objects.exists()


@pytest.mark.parametrize(
    ("start_hours", "end_hours"),
    [(48, 47), (-5, -4), (48, 48 + 24 * 1000)],
)
def test_publish_bad_window_is_400(client_for, doctor, start_hours, end_hours):
    response = client_for(doctor).post(
        URL,
        {
            "start": hours_from_now(start_hours).isoformat(),
            "end": hours_from_now(end_hours).isoformat(),
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_availability"
    assert not Slot.objects.exists()


def test_publish_malformed_json_is_400(client_for, doctor):
    response = client_for(doctor).generic("POST", URL, "{]", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


# --- rules -----------------------------------------------------------------------------


def test_rule_endpoint_expands(client_for):
    doctor = DoctorFactory(time_zone="Europe/London")
    today = hours_from_now(0).date()

    response = client_for(doctor).post(
        f"{URL}rules/",
        {
            "weekday": (today.weekday() + 2) % 7,
            "start_time": "09:00",
            "end_time": "10:00",
            "slot_minutes": 30,
            "valid_from": today.isoformat(),
            "valid_until": (today + timedelta(days=6)).isoformat(),
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["rule"]["time_zone"] == "Europe/London"
    assert len(body["created"]) == 2
    assert body["conflicts"] == []
    assert AvailabilityRule.objects.filter(clinician=doctor).count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"weekday": 7}, "weekday"),
        ({"weekday": "monday"}, "weekday"),
        ({"start_time": "25:00"}, "start_time"),
        ({"time_zone": "Nowhere/Land"}, "time_zone"),
        ({"valid_from": "2027-02-30"}, "valid_from"),
        ({"end_time": "08:00"}, "end_time"),
    ],
)
def test_rule_invalid_is_400(client_for, doctor, changes, field):
    body = {
        "weekday": 1,
        "start_time": "09:00",
        "end_time": "10:00",
        "valid_from": "2027-01-01",
        **changes,
    }

    response = client_for(doctor).post(f"{URL}rules/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]
    assert not AvailabilityRule.objects.exists()


def test_rule_by_patient_is_403(client_for, patient):
    response = client_for(patient).post(f"{URL}rules/", {"weekday": 1})

    assert response.status_code == 403


# --- list ------------------------------------------------------------------------------


def test_list_patient_sees_open_slots_only(client_for, doctor, patient, slot_at):
    open_slot = slot_at(doctor, 48)
    slot_at(doctor, 72, status=Slot.Status.WITHDRAWN)
    booked = slot_at(doctor, 96)
    services.appointment_book(patient=PatientFactory(), slot_id=booked.pk)

    as_patient = client_for(patient).get(URL).json()
    as_doctor = client_for(doctor).get(URL).json()
    booked_for_patient = client_for(patient).get(URL, {"status": "booked"}).json()

    assert [s["id"] for s in as_patient["results"]] == [open_slot.pk]
    assert as_doctor["count"] == 3
    assert booked_for_patient["count"] == 0


def test_list_filters_by_clinician_and_time(client_for, doctor, patient, slot_at):
    early, late = slot_at(doctor, 48), slot_at(doctor, 96)
    slot_at(DoctorFactory(), 60)
    client = client_for(patient)

    by_clinician = client.get(URL, {"clinician": doctor.pk}).json()
    in_window = client.get(
        URL,
        {
            "clinician": doctor.pk,
            "from": hours_from_now(72).isoformat(),
            "to": hours_from_now(120).isoformat(),
            "status": "open",
        },
    ).json()

    assert [s["id"] for s in by_clinician["results"]] == [early.pk, late.pk]
    assert [s["id"] for s in in_window["results"]] == [late.pk]


def test_list_rows_are_sent_as_the_slot_serializer_writes_them(client_for, doctor, slot_at):
    # given slots of each status, one starting at a time with microseconds
    slots = [slot_at(doctor, 48), slot_at(doctor, 72, status=Slot.Status.WITHDRAWN)]
    odd = hours_from_now(96).replace(microsecond=123456)
    slots.append(SlotFactory(clinician=doctor, start=odd, end=odd + timedelta(minutes=30)))
    # when their clinician lists them (a list whose times orjson writes, core.renderers)
    response = client_for(doctor).get(URL)
    # then each row is what SlotOutput writes for that slot, to the character
    assert response.status_code == 200
    assert response.json()["results"] == [SlotOutput().to_representation(s) for s in slots]
    assert response.json()["results"][2]["start"].endswith(".123456Z")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"clinician": "abc"}, "clinician"),
        ({"clinician": str(10**30)}, "clinician"),
        ({"from": "yesterday"}, "from"),
        ({"status": "free"}, "status"),
    ],
)
def test_list_bad_filter_is_400_naming_it(client_for, patient, params, field):
    response = client_for(patient).get(URL, params)

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]["fields"]) == [field]


def test_list_page_out_of_range_is_404_envelope(client_for, patient):
    response = client_for(patient).get(URL, {"page": "0"})

    assert response.status_code == 404
    assert response.json()["error"]["code"]


def test_list_is_paginated(client_for, doctor, patient, slot_at):
    for hours in range(48, 53):
        slot_at(doctor, hours)

    page = client_for(patient).get(URL, {"page_size": 2}).json()

    assert page["count"] == 5
    assert len(page["results"]) == 2
    assert page["next"]


# --- withdraw --------------------------------------------------------------------------


def test_withdraw_own_slot(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48)

    response = client_for(doctor).delete(f"{URL}{slot.pk}/")

    assert response.status_code == 204
    slot.refresh_from_db()
    assert slot.status == Slot.Status.WITHDRAWN


def test_withdraw_booked_is_409(client_for, doctor, patient, slot_at):
    slot = slot_at(doctor, 48)
    services.appointment_book(patient=patient, slot_id=slot.pk)

    response = client_for(doctor).delete(f"{URL}{slot.pk}/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "slot_booked"
    slot.refresh_from_db()
    assert slot.status == Slot.Status.BOOKED


def test_withdraw_foreign_or_unknown_is_404(client_for, doctor, slot_at):
    foreign = slot_at(DoctorFactory(), 48)
    before = _slots()

    other = client_for(doctor).delete(f"{URL}{foreign.pk}/")
    unknown = client_for(doctor).delete(f"{URL}{10**20}/")

    assert other.status_code == unknown.status_code == 404
    assert _slots() == before


def test_withdraw_by_patient_is_403(client_for, doctor, patient, slot_at):
    slot = slot_at(doctor, 48)

    response = client_for(patient).delete(f"{URL}{slot.pk}/")

    assert response.status_code == 403
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OPEN


def test_staff_may_withdraw_any_slot(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48)

    response = client_for(StaffFactory()).delete(f"{URL}{slot.pk}/")

    assert response.status_code == 204


def test_patients_do_not_see_past_open_slots(client_for, doctor, patient, slot_at):
    past = slot_at(doctor, -3)
    future = slot_at(doctor, 48)

    as_patient = client_for(patient).get(URL).json()
    as_doctor = client_for(doctor).get(URL).json()

    assert [s["id"] for s in as_patient["results"]] == [future.pk]
    assert [s["id"] for s in as_doctor["results"]] == [past.pk, future.pk]


def test_list_has_no_n_plus_one(client_for, django_assert_max_num_queries, patient, slot_at):
    for hours in range(48, 60):
        slot_at(DoctorFactory(), hours)
    client = client_for(patient)

    with django_assert_max_num_queries(3):  # user, count, page
        response = client.get(URL)

    assert response.json()["count"] == 12
