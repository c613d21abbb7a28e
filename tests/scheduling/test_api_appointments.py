"""Appointments API: booking with Idempotency-Key, visibility (404), roles (403), bad input."""

from __future__ import annotations

import uuid

import pytest

from scheduling import services
from scheduling.models import Appointment, Slot
from tests.factories import DoctorFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

BOOK = "/api/v1/appointments/"


def key() -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}


def _snapshot() -> list[tuple]:
    appointments = Appointment.objects.order_by("pk").values_list(
        "pk", "slot_id", "status", "reason", "notes", "start", "cancelled_at"
    )
    slots = Slot.objects.order_by("pk").values_list("pk", "status")
    return [*appointments, *slots]


@pytest.fixture
def booked(doctor, patient, slot_at):
    """An appointment of ``patient`` with ``doctor`` two days ahead."""
    return services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)


# --- booking ---------------------------------------------------------------------------


def test_book_returns_201_with_body(client_for, doctor, patient, slot_at):
    slot = slot_at(doctor, 48)

    response = client_for(patient).post(BOOK, {"slot": slot.pk, "reason": "Check-up"}, **key())

    assert response.status_code == 201
    body = response.json()
    appointment = Appointment.objects.get()
    assert body["id"] == appointment.pk
    assert body["slot"] == slot.pk
    assert body["status"] == "scheduled"
    assert body["patient"]["id"] == patient.pk
    assert body["clinician"] == {"id": doctor.pk, "name": doctor.full_name, "role": "doctor"}
    assert body["start"].endswith("Z")
    assert body["reason"] == "Check-up"


def test_book_without_key_is_400_and_books_nothing(client_for, doctor, patient, slot_at):
    slot = slot_at(doctor, 48)

    response = client_for(patient).post(BOOK, {"slot": slot.pk})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert not Appointment.objects.exists()


def test_replay_returns_identical_response(client_for, doctor, patient, slot_at):
    slot = slot_at(doctor, 48)
    client, headers = client_for(patient), key()

    first = client.post(BOOK, {"slot": slot.pk}, **headers)
    replay = client.post(BOOK, {"slot": slot.pk}, **headers)

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Appointment.objects.count() == 1


def test_replay_of_a_409_is_the_same_409(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48)
    services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    client, headers = client_for(PatientFactory()), key()

    first = client.post(BOOK, {"slot": slot.pk}, **headers)
    replay = client.post(BOOK, {"slot": slot.pk}, **headers)

    assert first.status_code == replay.status_code == 409
    assert first.json()["error"]["code"] == "slot_unavailable"
    assert replay.json() == first.json()


def test_same_key_other_body_is_422(client_for, doctor, patient, slot_at):
    one, two = slot_at(doctor, 48), slot_at(doctor, 72)
    client, headers = client_for(patient), key()
    client.post(BOOK, {"slot": one.pk}, **headers)

    response = client.post(BOOK, {"slot": two.pk}, **headers)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    two.refresh_from_db()
    assert two.status == Slot.Status.OPEN


def test_same_key_is_scoped_to_the_user(client_for, doctor, slot_at):
    one, two = slot_at(doctor, 48), slot_at(doctor, 72)
    headers = key()
    client_for(PatientFactory()).post(BOOK, {"slot": one.pk}, **headers)

    response = client_for(PatientFactory()).post(BOOK, {"slot": two.pk}, **headers)

    assert response.status_code == 201
    assert response.json()["slot"] == two.pk


def test_book_taken_slot_is_409(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48)
    services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    before = _snapshot()

    response = client_for(PatientFactory()).post(BOOK, {"slot": slot.pk}, **key())

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "slot_unavailable"
    assert error["request_id"]
    assert _snapshot() == before


def test_book_overlapping_with_other_clinician_is_409(client_for, patient, slot_at):
    mine = slot_at(DoctorFactory(), 48, minutes=60)
    services.appointment_book(patient=patient, slot_id=mine.pk)
    other = slot_at(DoctorFactory(), 48.5)

    response = client_for(patient).post(BOOK, {"slot": other.pk}, **key())

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "patient_overlap"


def test_cancelled_slot_can_be_booked_again_over_http(client_for, doctor, patient, slot_at):
    slot = slot_at(doctor, 48)
    client = client_for(patient)
    first = client.post(BOOK, {"slot": slot.pk}, **key()).json()
    client.post(f"{BOOK}{first['id']}/cancel/", {"reason": "Moved"})

    again = client_for(PatientFactory()).post(BOOK, {"slot": slot.pk}, **key())

    assert again.status_code == 201
    assert Appointment.objects.filter(slot=slot, status="scheduled").count() == 1


@pytest.mark.parametrize("factory", [DoctorFactory, StaffFactory])
def test_only_patients_book_403(client_for, factory, doctor, slot_at):
    slot = slot_at(doctor, 48)

    response = client_for(factory()).post(BOOK, {"slot": slot.pk}, **key())

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_allowed"
    assert not Appointment.objects.exists()


def test_anonymous_is_401(api_client, doctor, slot_at):
    response = api_client.post(BOOK, {"slot": slot_at(doctor, 48).pk}, **key())

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "slot"),
        ({"slot": "abc"}, "slot"),
        ({"slot": None}, "slot"),
        ({"slot": -1}, "slot"),
        ({"slot": 10**30}, "slot"),
        ({"slot": [1]}, "slot"),
        ({"slot": 1, "reason": 5 * "x" * 1000}, "reason"),
        ({"slot": 1, "reason": {"a": 1}}, "reason"),
        ({"slot": 1, "status": "confirmed"}, "status"),
    ],
)
def test_book_invalid_fields_are_400(client_for, patient, body, field):
    response = client_for(patient).post(BOOK, body, format="json", **key())

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_request"),
        ("", "application/json", 400, "validation_error"),
        ("[1, 2]", "application/json", 400, "validation_error"),
        ('"slot"', "application/json", 400, "validation_error"),
        ("slot=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_book_malformed_body_is_refused(client_for, patient, raw, content_type, status, code):
    response = client_for(patient).generic("POST", BOOK, raw, content_type=content_type, **key())

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Appointment.objects.exists()


def test_book_unknown_slot_is_404(client_for, patient):
    response = client_for(patient).post(BOOK, {"slot": 999999}, **key())

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "slot_not_found"


# --- reading ---------------------------------------------------------------------------


def test_list_shows_only_own_appointments(client_for, doctor, patient, booked, slot_at):
    services.appointment_book(patient=PatientFactory(), slot_id=slot_at(doctor, 72).pk)

    mine = client_for(patient).get(BOOK).json()
    doctors = client_for(doctor).get(BOOK).json()
    others = client_for(DoctorFactory()).get(BOOK).json()
    staff = client_for(StaffFactory()).get(BOOK).json()

    assert [a["id"] for a in mine["results"]] == [booked.pk]
    assert doctors["count"] == 2
    assert others["count"] == 0
    assert staff["count"] == 2


def test_list_filters(client_for, doctor, patient, booked, slot_at):
    later = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 96).pk)
    services.appointment_cancel(actor=patient, appointment_id=booked.pk)
    client = client_for(patient)

    cancelled = client.get(BOOK, {"status": "cancelled"}).json()
    from_later = client.get(BOOK, {"from": later.start.isoformat()}).json()
    bad = client.get(BOOK, {"status": "nope", "clinician": "x"})

    assert [a["id"] for a in cancelled["results"]] == [booked.pk]
    assert [a["id"] for a in from_later["results"]] == [later.pk]
    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]["fields"]) == {"status", "clinician"}


def test_list_has_no_n_plus_one(client_for, django_assert_max_num_queries, doctor, slot_at):
    for hours in range(48, 48 + 10):
        services.appointment_book(patient=PatientFactory(), slot_id=slot_at(doctor, hours).pk)
    client = client_for(doctor)

    with django_assert_max_num_queries(4):
        response = client.get(BOOK)

    assert response.json()["count"] == 10


def test_get_own_and_404_for_others(client_for, doctor, patient, booked):
    own = client_for(patient).get(f"{BOOK}{booked.pk}/")
    as_doctor = client_for(doctor).get(f"{BOOK}{booked.pk}/")
    foreign = client_for(PatientFactory()).get(f"{BOOK}{booked.pk}/")
    other_doctor = client_for(DoctorFactory()).get(f"{BOOK}{booked.pk}/")
    unknown = client_for(patient).get(f"{BOOK}999999/")
    huge = client_for(patient).get(f"{BOOK}{10**25}/")

    assert own.status_code == as_doctor.status_code == 200
    assert own.json()["id"] == booked.pk
    for response in (foreign, other_doctor, unknown):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "appointment_not_found"
    assert huge.status_code == 404
    assert huge.json()["error"]["code"] == "not_found"


# --- another patient's appointment: 404 for every verb, nothing changes ------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"reason": "mine now"}),
        ("delete", "", None),
        ("post", "cancel/", {"reason": "x"}),
        ("post", "reschedule/", {"slot": 1}),
    ],
)
def test_other_patients_appointment_is_404_and_unchanged(
    client_for, booked, slot_at, doctor, method, suffix, body
):
    if suffix == "reschedule/":
        body = {"slot": slot_at(doctor, 96).pk}
    before = _snapshot()

    response = getattr(client_for(PatientFactory()), method)(
        f"{BOOK}{booked.pk}/{suffix}", body, format="json"
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "appointment_not_found"
    assert _snapshot() == before


# --- update, cancel, reschedule, confirm -------------------------------------------------


def test_clinician_notes_are_never_shown_to_the_patient(client_for, doctor, patient, booked):
    services.appointment_update(actor=doctor, appointment_id=booked.pk, notes="Private")

    as_patient = client_for(patient)
    detail = as_patient.get(f"{BOOK}{booked.pk}/").json()
    listed = as_patient.get(BOOK).json()["results"][0]
    as_doctor = client_for(doctor).get(f"{BOOK}{booked.pk}/").json()

    assert "notes" not in detail
    assert "notes" not in listed
    assert as_doctor["notes"] == "Private"


def test_patch_reason_by_patient_and_notes_by_doctor(client_for, doctor, patient, booked):
    by_patient = client_for(patient).patch(f"{BOOK}{booked.pk}/", {"reason": "Headache"})
    by_doctor = client_for(doctor).patch(f"{BOOK}{booked.pk}/", {"notes": "Follow up"})

    assert by_patient.status_code == by_doctor.status_code == 200
    assert by_doctor.json()["reason"] == "Headache"
    assert by_doctor.json()["notes"] == "Follow up"


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("patient", {"notes": "x"}, 403, "field_not_editable"),
        ("doctor", {"reason": "x"}, 403, "field_not_editable"),
        ("patient", {"status": "confirmed"}, 400, "validation_error"),
        ("patient", {"start": "2030-01-01T00:00:00Z"}, 400, "validation_error"),
        ("patient", {}, 400, "validation_error"),
        ("patient", {"reason": None}, 400, "validation_error"),
        ("patient", {"reason": ["x"]}, 400, "validation_error"),
    ],
)
def test_patch_refusals_change_nothing(
    client_for, doctor, patient, booked, who, body, status, code
):
    before = _snapshot()
    actor = {"patient": patient, "doctor": doctor}[who]

    response = client_for(actor).patch(f"{BOOK}{booked.pk}/", body, format="json")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert _snapshot() == before


def test_cancel_endpoint_and_delete_both_cancel(client_for, doctor, patient, slot_at):
    one = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)
    two = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 72).pk)
    client = client_for(patient)

    cancelled = client.post(f"{BOOK}{one.pk}/cancel/", {"reason": "Travel"})
    deleted = client.delete(f"{BOOK}{two.pk}/")
    again = client.post(f"{BOOK}{one.pk}/cancel/", {})

    assert cancelled.status_code == deleted.status_code == 200
    assert cancelled.json()["status"] == deleted.json()["status"] == "cancelled"
    assert cancelled.json()["cancellation_reason"] == "Travel"
    assert cancelled.json()["cancelled_by"] == patient.pk
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    assert again.json()["error"]["details"]["allowed"] == []
    assert Slot.objects.filter(status="open").count() == 2


def test_cancel_bad_reason_is_400(client_for, patient, booked):
    response = client_for(patient).post(
        f"{BOOK}{booked.pk}/cancel/", {"reason": 12 * "x" * 200}, format="json"
    )

    assert response.status_code == 400
    booked.refresh_from_db()
    assert booked.status == "scheduled"


def test_reschedule_endpoint(client_for, doctor, patient, booked, slot_at):
    target = slot_at(doctor, 96)

    response = client_for(patient).post(f"{BOOK}{booked.pk}/reschedule/", {"slot": target.pk})

    assert response.status_code == 200
    body = response.json()
    assert (body["slot"], body["previous_slot"]) == (target.pk, booked.slot_id)
    assert body["start"].startswith(target.start.strftime("%Y-%m-%dT%H:%M"))


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"slot": "x"}, 400), ({"slot": 0}, 400), ({"slot": 987654}, 404)],
)
def test_reschedule_bad_input_changes_nothing(client_for, patient, booked, body, status):
    before = _snapshot()

    response = client_for(patient).post(f"{BOOK}{booked.pk}/reschedule/", body, format="json")

    assert response.status_code == status
    assert _snapshot() == before


def test_confirm_endpoint_roles(client_for, doctor, patient, booked):
    by_patient = client_for(patient).post(f"{BOOK}{booked.pk}/confirm/")
    by_doctor = client_for(doctor).post(f"{BOOK}{booked.pk}/confirm/")
    again = client_for(doctor).post(f"{BOOK}{booked.pk}/confirm/")

    assert by_patient.status_code == 403
    assert by_doctor.status_code == 200
    assert by_doctor.json()["status"] == "confirmed"
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"


# --- per-person lists ------------------------------------------------------------------


def test_patient_appointments_list(client_for, doctor, patient, booked):
    own = client_for(patient).get(f"/api/v1/patients/{patient.pk}/appointments/")
    by_doctor = client_for(doctor).get(f"/api/v1/patients/{patient.pk}/appointments/")
    by_staff = client_for(StaffFactory()).get(f"/api/v1/patients/{patient.pk}/appointments/")
    foreign = client_for(PatientFactory()).get(f"/api/v1/patients/{patient.pk}/appointments/")
    stranger = client_for(DoctorFactory()).get(f"/api/v1/patients/{patient.pk}/appointments/")
    unknown = client_for(StaffFactory()).get("/api/v1/patients/999999/appointments/")

    for ok in (own, by_doctor, by_staff):
        assert ok.status_code == 200
        assert [a["id"] for a in ok.json()["results"]] == [booked.pk]
    for missing in (foreign, stranger, unknown):
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "patient_not_found"


def test_clinician_appointments_list(client_for, doctor, patient, booked, slot_at):
    services.appointment_book(patient=PatientFactory(), slot_id=slot_at(doctor, 72).pk)
    url = f"/api/v1/clinicians/{doctor.pk}/appointments/"

    own = client_for(doctor).get(url).json()
    as_patient = client_for(patient).get(url).json()
    as_staff = client_for(StaffFactory()).get(url).json()
    other_doctor = client_for(DoctorFactory()).get(url)
    unknown = client_for(patient).get("/api/v1/clinicians/999999/appointments/")
    a_patient_id = client_for(StaffFactory()).get(f"/api/v1/clinicians/{patient.pk}/appointments/")

    assert own["count"] == as_staff["count"] == 2
    assert [a["id"] for a in as_patient["results"]] == [booked.pk]
    for missing in (other_doctor, unknown, a_patient_id):
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "clinician_not_found"


def test_a_persons_list_filters_within_its_path(client_for, doctor, patient, booked, slot_at):
    later = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 96).pk)
    other = services.appointment_book(patient=PatientFactory(), slot_id=slot_at(doctor, 72).pk)
    services.appointment_cancel(actor=patient, appointment_id=booked.pk)
    staff = client_for(StaffFactory())
    patients = f"/api/v1/patients/{patient.pk}/appointments/"
    agenda = f"/api/v1/clinicians/{doctor.pk}/appointments/"

    cancelled = staff.get(patients, {"status": "cancelled"}).json()
    from_later = staff.get(agenda, {"from": later.start.isoformat()}).json()
    one_patient = staff.get(agenda, {"patient": other.patient_id}).json()
    elsewhere = staff.get(patients, {"patient": other.patient_id}).json()

    assert [a["id"] for a in cancelled["results"]] == [booked.pk]
    assert [a["id"] for a in from_later["results"]] == [later.pk]
    assert [a["id"] for a in one_patient["results"]] == [other.pk]
    assert elsewhere["count"] == 0  # the path's patient and the filter's: both must hold


@pytest.mark.parametrize("path", ["patients/{patient}", "clinicians/{doctor}"])
def test_a_persons_list_refuses_bad_filters(client_for, doctor, patient, booked, path):
    url = f"/api/v1/{path.format(patient=patient.pk, doctor=doctor.pk)}/appointments/"

    bad = client_for(StaffFactory()).get(url, {"status": "nope", "from": "soon", "patient": "0"})

    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]["fields"]) == {"status", "from", "patient"}


def test_optional_key_on_cancel_replays_per_appointment(client_for, doctor, patient, slot_at):
    one = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)
    two = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 72).pk)
    client, headers = client_for(patient), key()

    first = client.post(f"{BOOK}{one.pk}/cancel/", {}, **headers)
    replay = client.post(f"{BOOK}{one.pk}/cancel/", {}, **headers)
    other = client.post(f"{BOOK}{two.pk}/cancel/", {}, **headers)

    assert first.status_code == replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    # keys are scoped to the resource path: the other appointment is its own request
    assert other.status_code == 200
    assert other.json()["id"] == two.pk
    assert "Idempotent-Replayed" not in other.headers
    two.refresh_from_db()
    assert two.status == Appointment.Status.CANCELLED
