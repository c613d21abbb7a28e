"""The series endpoints refuse bad input with a clear 4xx that changes nothing, keep the
Idempotency-Key contract, and answer 404 for a series one may not see."""

from __future__ import annotations

import uuid

import pytest

from scheduling.models import AppointmentSeries
from tests.factories import DoctorFactory, PatientFactory, StaffFactory
from tests.scheduling.test_series import SERIES, next_weekday_at, post_series, state, weekly_slots

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    return PatientFactory(time_zone="Europe/Berlin")


@pytest.fixture
def slots():
    return weekly_slots(DoctorFactory(time_zone="Europe/Berlin"), next_weekday_at(14), 4)


# --- Idempotency-Key ------------------------------------------------------------------------


def test_the_same_key_and_body_replays_the_first_answer(client_for, patient, slots):
    client = client_for(patient)
    body = {"slot": slots[0].pk, "count": 3}

    first = post_series(client, body, key="course-1")
    again = post_series(client, body, key="course-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert AppointmentSeries.objects.count() == 1


def test_the_same_key_with_another_body_is_422(client_for, patient, slots):
    client = client_for(patient)
    post_series(client, {"slot": slots[0].pk, "count": 2}, key="course-2")
    before = state()

    response = post_series(client, {"slot": slots[0].pk, "count": 3}, key="course-2")

    assert response.status_code == 422
    assert state() == before


def test_a_missing_key_is_400(client_for, patient, slots):
    before = state()
    response = client_for(patient).post(SERIES, {"slot": slots[0].pk, "count": 2}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert state() == before


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"interval": 0}, "interval"),
        ({"interval": 5}, "interval"),
        ({"count": 1}, "count"),
        ({"count": 27}, "count"),
        ({"count": "3"}, "count"),
        ({"count": True}, "count"),
        ({"count": 2.5}, "count"),
        ({"count": None}, "count"),
        ({"interval": "1"}, "interval"),
        ({"slot": "abc"}, "slot"),
        ({"slot": 0}, "slot"),
        ({"slot": 2**63}, "slot"),
        ({"slot": [1]}, "slot"),
        ({"on_conflict": "maybe"}, "on_conflict"),
        ({"on_conflict": 1}, "on_conflict"),
        ({"reason": 7}, "reason"),
        ({"reason": "x" * 2001}, "reason"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, patient, slots, changes, field):
    body = {"slot": slots[0].pk, "count": 3, **changes}
    before = state()

    response = post_series(client_for(patient), body)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]["fields"]
    assert state() == before


@pytest.mark.parametrize("payload", [[], "text", 3, None])
def test_a_body_that_is_not_an_object_is_a_400(client_for, patient, payload):
    response = client_for(patient).post(
        SERIES, payload, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_missing_count_is_a_400(client_for, patient, slots):
    response = post_series(client_for(patient), {"slot": slots[0].pk})
    assert response.status_code == 400
    assert "count" in response.json()["error"]["details"]["fields"]


def test_an_unknown_slot_is_a_404(client_for, patient):
    before = state()
    response = post_series(client_for(patient), {"slot": 987654321, "count": 2})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "slot_not_found"
    assert state() == before


# --- who may -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["doctor", "staff"])
def test_a_clinician_or_staff_without_a_patient_books_no_series(client_for, slots, role):
    user = DoctorFactory() if role == "doctor" else StaffFactory()
    before = state()
    response = post_series(client_for(user), {"slot": slots[0].pk, "count": 2})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_allowed"
    assert state() == before


def test_the_front_desk_books_a_series_for_a_patient(client_for, patient, slots):
    staff = StaffFactory()

    response = post_series(
        client_for(staff), {"slot": slots[0].pk, "count": 3, "patient": patient.pk}
    )

    assert response.status_code == 201
    series = AppointmentSeries.objects.get(pk=response.json()["id"])
    assert (series.patient_id, series.created_by_id) == (patient.pk, staff.pk)
    assert series.appointments.filter(patient=patient).count() == 3


def test_a_patient_may_not_book_a_series_for_another(client_for, patient, slots):
    before = state()
    body = {"slot": slots[0].pk, "count": 2, "patient": PatientFactory().pk}
    response = post_series(client_for(patient), body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_allowed"
    assert state() == before


def test_the_front_desk_naming_an_unknown_patient_is_404(client_for, slots):
    before = state()
    body = {"slot": slots[0].pk, "count": 2, "patient": DoctorFactory().pk}
    response = post_series(client_for(StaffFactory()), body)
    assert response.status_code == 404
    assert state() == before


def test_another_patients_series_is_a_404(client_for, patient, slots):
    body = post_series(client_for(patient), {"slot": slots[0].pk, "count": 2}).json()
    stranger = client_for(PatientFactory())
    other_doctor = client_for(DoctorFactory())
    before = state()

    for client in (stranger, other_doctor):
        assert client.get(f"{SERIES}{body['id']}/").status_code == 404
        cancel = client.post(f"{SERIES}{body['id']}/cancel/", {}, format="json")
        assert cancel.status_code == 404
        assert cancel.json()["error"]["code"] == "series_not_found"
    assert client_for(patient).get(f"{SERIES}987654321/").status_code == 404
    assert state() == before


def test_cancel_from_an_appointment_outside_the_series_is_a_404(client_for, patient, slots):
    client = client_for(patient)
    body = post_series(client, {"slot": slots[0].pk, "count": 2}).json()
    outside = post_series(client, {"slot": slots[2].pk, "count": 2}).json()["appointments"][0]
    before = state()

    response = client.post(f"{SERIES}{body['id']}/cancel/", {"from": outside["id"]}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "appointment_not_found"
    assert state() == before


@pytest.mark.parametrize(
    "payload", [{"from": "x"}, {"from": 0}, {"from": True}, {"reason": 3}, {"until": 1}, []]
)
def test_bad_cancel_input_is_a_400(client_for, patient, slots, payload):
    client = client_for(patient)
    body = post_series(client, {"slot": slots[0].pk, "count": 2}).json()
    before = state()
    response = client.post(f"{SERIES}{body['id']}/cancel/", payload, format="json")
    assert response.status_code == 400, response.content
    assert state() == before


def test_the_schema_documents_the_series_endpoints(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/appointment-series/"])
    assert "get" in paths["/api/v1/appointment-series/{series_id}/"]
    assert "post" in paths["/api/v1/appointment-series/{series_id}/cancel/"]
    book = paths["/api/v1/appointment-series/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in book["parameters"])
    appointment = schema["components"]["schemas"]["AppointmentOutput"]["properties"]
    assert "series" in appointment
