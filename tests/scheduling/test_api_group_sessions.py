"""The API of group sessions (``capacity``, ``seats_left``, ``slot_full``) and of the
front desk (staff send ``patient`` on ``POST appointments/``)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from audit.models import AuditEvent
from core.models import OutboxEvent
from scheduling.models import Appointment, Slot
from tests.factories import DoctorFactory, PatientFactory, StaffFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db

BOOK = "/api/v1/appointments/"
AVAILABILITY = "/api/v1/availability/"
RULES = "/api/v1/availability/rules/"


def key() -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}


def _window(hours: float = 48, minutes: int = 60) -> dict[str, str]:
    start = hours_from_now(hours)
    return {"start": start.isoformat(), "end": (start + timedelta(minutes=minutes)).isoformat()}


def _book(client: Any, slot: Slot, **body: Any) -> Any:
    return client.post(BOOK, {"slot": slot.pk, **body}, format="json", **key())


def _state() -> list[tuple]:
    slots = Slot.objects.order_by("pk").values_list("pk", "status", "capacity", "seats_taken")
    appointments = Appointment.objects.order_by("pk").values_list("pk", "slot_id", "status")
    return [*slots, *appointments]


# --- publishing a group slot -----------------------------------------------------------


def test_publish_a_group_slot_answers_capacity_and_seats_left(client_for, doctor):
    response = client_for(doctor).post(
        AVAILABILITY, {**_window(), "slot_minutes": 30, "capacity": 8}, format="json"
    )

    assert response.status_code == 201
    slots = response.json()["slots"]
    assert [(s["capacity"], s["seats_left"]) for s in slots] == [(8, 8), (8, 8)]
    assert set(Slot.objects.values_list("capacity", flat=True)) == {8}


def test_publish_without_capacity_is_one_seat(client_for, doctor):
    response = client_for(doctor).post(AVAILABILITY, _window(), format="json")

    assert response.status_code == 201
    (slot,) = response.json()["slots"]
    assert (slot["capacity"], slot["seats_left"]) == (1, 1)


@pytest.mark.parametrize("capacity", [0, 51, -1, "8", True, 8.5, None, [8], {"n": 8}])
def test_publish_a_bad_capacity_is_400_and_publishes_nothing(client_for, doctor, capacity):
    response = client_for(doctor).post(
        AVAILABILITY, {**_window(), "capacity": capacity}, format="json"
    )

    assert response.status_code == 400
    assert "capacity" in response.json()["error"]["details"]["fields"]
    assert not Slot.objects.exists()


def test_a_weekly_rule_publishes_group_slots(client_for, doctor):
    today = hours_from_now(0).date()
    body = {
        "weekday": (today.weekday() + 3) % 7,
        "start_time": "10:00",
        "end_time": "11:00",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=8)).isoformat(),
        "capacity": 6,
    }

    response = client_for(doctor).post(RULES, body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["rule"]["capacity"] == 6
    created = response.json()["created"]
    assert created
    assert {(s["capacity"], s["seats_left"]) for s in created} == {(6, 6)}


@pytest.mark.parametrize("capacity", [0, 51, "6", False])
def test_a_weekly_rule_with_a_bad_capacity_is_400(client_for, doctor, capacity):
    today = hours_from_now(0).date()
    body = {
        "weekday": 2,
        "start_time": "10:00",
        "end_time": "11:00",
        "valid_from": today.isoformat(),
        "capacity": capacity,
    }

    response = client_for(doctor).post(RULES, body, format="json")

    assert response.status_code == 400
    assert "capacity" in response.json()["error"]["details"]["fields"]
    assert not Slot.objects.exists()


# --- booking seats ---------------------------------------------------------------------


def test_seats_are_booked_until_full_then_slot_full(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48, capacity=3)
    patients = [PatientFactory() for _ in range(4)]

    answers = [_book(client_for(p), slot) for p in patients]

    assert [a.status_code for a in answers] == [201, 201, 201, 409]
    assert answers[3].json()["error"]["code"] == "slot_full"
    assert Appointment.objects.filter(slot=slot).count() == 3


def test_a_taken_one_seat_slot_is_still_slot_unavailable(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48)
    assert _book(client_for(PatientFactory()), slot).status_code == 201

    refused = _book(client_for(PatientFactory()), slot)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "slot_unavailable"


def test_a_patients_second_seat_is_patient_overlap(client_for, doctor, patient, slot_at):
    slot = slot_at(doctor, 48, capacity=4)
    client = client_for(patient)
    assert _book(client, slot).status_code == 201

    again = _book(client, slot)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "patient_overlap"
    assert Appointment.objects.filter(slot=slot).count() == 1


def test_status_open_lists_group_slots_with_a_seat_left(client_for, doctor, slot_at):
    group, full, single = (
        slot_at(doctor, 48, capacity=3),
        slot_at(doctor, 50, capacity=2),
        slot_at(doctor, 52),
    )
    _book(client_for(PatientFactory()), group)
    for _ in range(2):
        _book(client_for(PatientFactory()), full)
    _book(client_for(PatientFactory()), single)

    listed = client_for(PatientFactory()).get(AVAILABILITY, {"status": "open"}).json()["results"]
    mine = client_for(doctor).get(AVAILABILITY).json()["results"]

    assert [(s["id"], s["capacity"], s["seats_left"]) for s in listed] == [(group.pk, 3, 2)]
    assert {s["id"]: (s["status"], s["seats_left"]) for s in mine} == {
        group.pk: ("open", 2),
        full.pk: ("booked", 0),
        single.pk: ("booked", 0),
    }


def test_cancelling_a_seat_through_the_api_reopens_the_full_slot(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48, capacity=2)
    first = PatientFactory()
    booked = _book(client_for(first), slot).json()
    _book(client_for(PatientFactory()), slot)

    response = client_for(first).post(f"{BOOK}{booked['id']}/cancel/", {}, format="json")

    assert response.status_code == 200
    slot.refresh_from_db()
    assert (slot.status, slot.seats_left) == ("open", 1)


# --- the front desk --------------------------------------------------------------------


def test_staff_books_for_a_patient_audited_and_confirmed_as_the_patient(
    client_for, doctor, patient, slot_at
):
    staff = StaffFactory()
    slot = slot_at(doctor, 48, capacity=4)

    response = _book(client_for(staff), slot, patient=patient.pk, reason="By phone")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["patient"]["id"] == patient.pk
    appointment = Appointment.objects.get()
    assert appointment.patient_id == patient.pk
    row = AuditEvent.objects.get(action="appointment.book", object_id=str(appointment.pk))
    assert (row.actor_id, row.actor_role, row.metadata) == (
        staff.pk,
        "staff",
        {"patient_id": patient.pk},
    )
    event = OutboxEvent.objects.get(name="appointment.scheduled")
    # the patient's confirmation comes from this event, as for a self-booking
    assert (event.payload["patient_id"], event.payload["actor_id"]) == (patient.pk, staff.pk)
    # the patient sees it as their own
    mine = client_for(patient).get(f"{BOOK}{appointment.pk}/")
    assert mine.status_code == 200


def test_staff_cancel_and_reschedule_any_appointment(client_for, doctor, patient, slot_at):
    staff = client_for(StaffFactory())
    first, second = slot_at(doctor, 48, capacity=2), slot_at(doctor, 50)
    booked = _book(staff, first, patient=patient.pk).json()

    moved = staff.post(f"{BOOK}{booked['id']}/reschedule/", {"slot": second.pk}, format="json")
    cancelled = staff.post(f"{BOOK}{booked['id']}/cancel/", {}, format="json")

    assert (moved.status_code, cancelled.status_code) == (200, 200)
    assert Appointment.objects.get().status == "cancelled"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.seats_taken, second.seats_taken, second.status) == (0, 0, "open")


def test_a_patient_naming_another_patient_is_403_and_books_nothing(
    client_for, doctor, patient, slot_at
):
    slot = slot_at(doctor, 48, capacity=4)
    before = _state()

    response = _book(client_for(patient), slot, patient=PatientFactory().pk)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_allowed"
    assert _state() == before


def test_a_patient_naming_themselves_books_as_usual(client_for, doctor, patient, slot_at):
    response = _book(client_for(patient), slot_at(doctor, 48), patient=patient.pk)

    assert response.status_code == 201
    assert response.json()["patient"]["id"] == patient.pk


def test_a_clinician_naming_a_patient_is_403(client_for, doctor, patient, slot_at):
    response = _book(client_for(DoctorFactory()), slot_at(doctor, 48), patient=patient.pk)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_allowed"
    assert not Appointment.objects.exists()


def test_staff_without_a_patient_is_403(client_for, doctor, slot_at):
    response = _book(client_for(StaffFactory()), slot_at(doctor, 48))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_allowed"


@pytest.mark.parametrize("who", ["unknown", "doctor", "staff", "inactive"])
def test_staff_naming_no_active_patient_is_404(client_for, doctor, slot_at, who):
    target = {
        "unknown": lambda: 10**12,
        "doctor": lambda: DoctorFactory().pk,
        "staff": lambda: StaffFactory().pk,
        "inactive": lambda: PatientFactory(is_active=False).pk,
    }[who]()
    slot = slot_at(doctor, 48)

    response = _book(client_for(StaffFactory()), slot, patient=target)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "patient_not_found"
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("value", ["x", True, 0, -3, 2**63, [1], {"id": 1}, None])
def test_a_malformed_patient_is_400(client_for, doctor, slot_at, value):
    slot = slot_at(doctor, 48)

    response = _book(client_for(StaffFactory()), slot, patient=value)

    assert response.status_code == 400
    assert "patient" in response.json()["error"]["details"]["fields"]
    assert not Appointment.objects.exists()


def test_the_schema_documents_capacity_seats_left_and_patient(client_for):
    schema = client_for(StaffFactory()).get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]

    assert {"capacity", "seats_left"} <= set(components["SlotOutput"]["properties"])
    capacity = components["AvailabilityCreateInputRequest"]["properties"]["capacity"]
    assert (capacity["type"], capacity["minimum"], capacity["maximum"]) == ("integer", 1, 50)
    assert "patient" in components["AppointmentBookInputRequest"]["properties"]
    assert "capacity" in components["RuleCreateInputRequest"]["properties"]
