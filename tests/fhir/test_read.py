"""Read by id, per resource type and role: what the REST API shows the same user; an
unknown or foreign id is 404, a withdrawn slot 410; every answer an R4B resource."""

from __future__ import annotations

import pytest

from tests.fhir.helpers import BASE, answer, fhir_get, outcome_code

pytestmark = pytest.mark.django_db


def test_read_each_resource_type_as_staff(clinic, client_for):
    # given staff, who see every record
    client = client_for(clinic.staff)
    # when they read one of each type, then each is that record
    _, practitioner = fhir_get(client, f"Practitioner/{clinic.doctor.pk}")
    assert practitioner["name"][0]["family"] == "Lindqvist"
    assert practitioner["identifier"] == [
        {"system": "urn:carebook:license-number", "value": "GMC-1001"}
    ]
    _, schedule = fhir_get(client, f"Schedule/{clinic.doctor.pk}")
    assert schedule["actor"][0]["reference"] == f"Practitioner/{clinic.doctor.pk}"
    _, patient = fhir_get(client, f"Patient/{clinic.patient_a.pk}")
    assert (patient["birthDate"], patient["name"][0]["given"]) == ("1980-05-17", ["Alice"])
    _, slot = fhir_get(client, f"Slot/{clinic.free[0].pk}")
    assert (slot["status"], slot["schedule"]["reference"]) == (
        "free",
        f"Schedule/{clinic.doctor.pk}",
    )
    status, appointment = fhir_get(client, f"Appointment/{clinic.appointment_a.pk}")
    assert status == 200
    assert appointment["status"] == "booked"
    assert appointment["slot"] == [{"reference": f"Slot/{clinic.appointment_a.slot_id}"}]
    actors = {p["actor"]["reference"] for p in appointment["participant"]}
    assert actors == {f"Patient/{clinic.patient_a.pk}", f"Practitioner/{clinic.doctor.pk}"}
    assert appointment["reasonCode"] == [{"text": "Knee pain"}]


@pytest.mark.parametrize(
    ("role", "path", "expected"),
    [
        # a patient: themself and their own appointments only
        ("patient_a", "Patient/{patient_a}", 200),
        ("patient_a", "Patient/{patient_b}", 404),
        ("patient_a", "Appointment/{appointment_a}", 200),
        ("patient_a", "Appointment/{appointment_b}", 404),
        # the directory is public to the signed-in: practitioners and their schedules
        ("patient_a", "Practitioner/{other}", 200),
        ("patient_a", "Schedule/{other}", 200),
        # a patient sees open slots only (as GET availability/): not a booked one
        ("patient_a", "Slot/{free0}", 200),
        ("patient_a", "Slot/{booked_slot}", 404),
        ("patient_a", "Slot/{withdrawn}", 404),
        # a clinician: their patients and appointments; all of their own slots
        ("doctor", "Patient/{patient_a}", 200),
        ("doctor", "Patient/{patient_b}", 404),
        ("doctor", "Appointment/{appointment_a}", 200),
        ("doctor", "Appointment/{appointment_b}", 404),
        ("doctor", "Slot/{booked_slot}", 200),
        ("other", "Slot/{booked_slot}", 404),
        ("other", "Patient/{patient_a}", 404),
        # a withdrawn slot that one may see is gone
        ("doctor", "Slot/{withdrawn}", 410),
        ("staff", "Slot/{withdrawn}", 410),
        # a patient or staff member is no Practitioner, a patient no Schedule
        ("staff", "Practitioner/{patient_a}", 404),
        ("staff", "Schedule/{patient_a}", 404),
        ("staff", "Patient/{doctor}", 404),
        # ids that cannot exist
        ("staff", "Patient/999999999", 404),
        ("staff", "Patient/abc", 404),
        ("staff", "Patient/0", 404),
        ("staff", "Patient/99999999999999999999999", 404),
        ("staff", "Patient/-1", 404),
    ],
)
def test_read_follows_the_rest_visibility(clinic, client_for, role, path, expected):
    # given the role's client and the clinic's ids
    names = {
        "patient_a": clinic.patient_a.pk, "patient_b": clinic.patient_b.pk,
        "appointment_a": clinic.appointment_a.pk, "appointment_b": clinic.appointment_b.pk,
        "other": clinic.other.pk, "doctor": clinic.doctor.pk, "free0": clinic.free[0].pk,
        "booked_slot": clinic.appointment_a.slot_id, "withdrawn": clinic.withdrawn.pk,
    }  # fmt: skip
    client = client_for(getattr(clinic, role))
    # when it reads the path
    status, body = fhir_get(client, path.format(**names))
    # then the status is the rule's; a refusal is an OperationOutcome that says why
    assert status == expected, body
    if expected == 404:
        assert outcome_code(body)[0] == "not-found"
    if expected == 410:
        assert outcome_code(body) == ("deleted", "resource_gone")


def test_without_a_token_reads_are_401_with_the_challenge(clinic, api_client):
    response = api_client.get(f"{BASE}/Patient/{clinic.patient_a.pk}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert outcome_code(answer(response))[0] == "login"


def test_a_bad_token_is_401(clinic, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api_client.get(f"{BASE}/Slot")
    assert response.status_code == 401
    assert outcome_code(answer(response))[0] == "login"


@pytest.mark.parametrize(
    "path", ["Observation", "Observation/1", "Patient/1/_history", "Patient/1/_history/2", "x/y/z"]
)
def test_unknown_types_and_paths_are_404(clinic, client_for, path):
    status, body = fhir_get(client_for(clinic.staff), path)
    assert status == 404
    assert outcome_code(body)[0] == "not-found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "Patient/{patient_a}"),
        ("put", "Patient/{patient_a}"),
        ("post", "Patient"),
        ("post", "Slot"),
        ("delete", "Appointment/{appointment_a}"),
        ("post", "metadata"),
        ("options", "Patient"),
        ("options", "Appointment/{appointment_a}"),
    ],
)
def test_other_methods_are_405(clinic, client_for, method, path):
    client = client_for(clinic.staff)
    url = f"{BASE}/" + path.format(
        patient_a=clinic.patient_a.pk, appointment_a=clinic.appointment_a.pk
    )
    response = getattr(client, method)(url, data="{}", content_type="application/fhir+json")
    assert response.status_code == 405
    assert outcome_code(answer(response))[0] == "not-supported"


def test_json_is_the_only_format(clinic, client_for):
    client = client_for(clinic.staff)
    status, body = fhir_get(client, f"Patient/{clinic.patient_a.pk}?_format=xml")
    assert status == 406
    assert outcome_code(body)[0] == "not-supported"
    status, _ = fhir_get(client, f"Patient/{clinic.patient_a.pk}?_format=json")
    assert status == 200
    # an Accept header for XML still gets FHIR JSON
    status, _ = fhir_get(client, f"Patient/{clinic.patient_a.pk}", HTTP_ACCEPT="application/xml")
    assert status == 200


def test_head_answers_as_get(clinic, client_for):
    response = client_for(clinic.staff).head(f"{BASE}/Patient/{clinic.patient_a.pk}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")


def test_people_without_a_profile_are_rendered(clinic, client_for):
    from accounts.models import Role
    from tests.factories import UserFactory

    bare_patient = UserFactory(role=Role.PATIENT, first_name="", last_name="")
    bare_doctor = UserFactory(role=Role.DOCTOR)
    client = client_for(clinic.staff)
    status, patient = fhir_get(client, f"Patient/{bare_patient.pk}")
    assert status == 200
    assert "birthDate" not in patient
    assert "name" not in patient
    status, _ = fhir_get(client, "Patient?birthdate=1980")
    assert status == 200
    for path in (f"Practitioner/{bare_doctor.pk}", f"Schedule/{bare_doctor.pk}"):
        status, resource = fhir_get(client, path)
        assert status == 200
        assert "identifier" not in resource
