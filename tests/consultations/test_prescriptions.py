"""Prescribing rules (SPEC invariant 4), immutability, cancellation and the PDF."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from audit.models import AuditEvent
from consultations.models import Prescription
from core.models import OutboxEvent
from tests.clinical_world import db_state
from tests.factories import PrescriptionFactory, completed_consultation, in_progress_consultation

pytestmark = pytest.mark.django_db

URL = "/api/v1/prescriptions/"


def body(consultation_id: int, **overrides):
    return {
        "consultation": consultation_id,
        "medication": "Ibuprofen",
        "dose": "400 mg",
        "route": "oral",
        "frequency": "every 8 hours",
        "duration": "5 days",
        "quantity": 15,
        "refills": 1,
        "instructions": "After meals.",
        **overrides,
    }


def test_doctor_prescribes_on_own_completed_consultation(client_for, world):
    # when the doctor prescribes on their completed consultation
    response = client_for(world.doctor).post(URL, body(world.done_consultation.pk), format="json")
    # then 201, stored as sent, audited and published
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["medication"] == "Ibuprofen"
    assert data["status"] == "active"
    assert data["prescriber"]["id"] == world.doctor.pk
    assert data["patient"]["id"] == world.patient_a.pk
    prescription = Prescription.objects.get(pk=data["id"])
    assert (prescription.quantity, prescription.refills) == (15, 1)
    audit = AuditEvent.objects.get(action="prescription.create")
    assert audit.actor_id == world.doctor.pk
    assert audit.object_id == str(prescription.pk)
    event = OutboxEvent.objects.get(name="prescription.created")
    assert event.payload["prescription_id"] == prescription.pk
    assert event.payload["patient_id"] == world.patient_a.pk


def test_psychologist_may_not_prescribe_403(client_for, world):
    consultation = completed_consultation(world.psychologist, world.patient_a)
    before = db_state()
    response = client_for(world.psychologist).post(URL, body(consultation.pk), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_allowed"
    assert db_state() == before


@pytest.mark.parametrize("who", ["staff", "patient_a"])
def test_staff_and_patients_may_not_prescribe_403(client_for, world, who):
    before = db_state()
    response = client_for(getattr(world, who)).post(
        URL, body(world.done_consultation.pk), format="json"
    )
    assert response.status_code == 403
    assert db_state() == before


def test_doctor_on_another_doctors_consultation_is_404(client_for, world):
    # even a doctor who treats the same patient cannot prescribe on a colleague's consultation
    colleague = completed_consultation(world.other_doctor, world.patient_a)
    before = db_state()
    for consultation_id in (colleague.pk, world.consultation_b.pk):
        response = client_for(world.doctor).post(URL, body(consultation_id), format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "consultation_not_found"
    assert db_state() == before


@pytest.mark.parametrize("state", ["scheduled", "in_progress"])
def test_doctor_on_a_not_completed_consultation_is_409(client_for, world, state):
    consultation = (
        world.open_consultation
        if state == "scheduled"
        else in_progress_consultation(world.doctor, world.patient_a)
    )
    before = db_state()
    response = client_for(world.doctor).post(URL, body(consultation.pk), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "consultation_not_completed"
    assert db_state() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_an_issued_prescription_cannot_be_edited(client_for, world, method):
    before = db_state()
    response = getattr(client_for(world.doctor), method)(
        f"{URL}{world.prescription.pk}/", {"dose": "1000 mg"}, format="json"
    )
    assert response.status_code == 405
    assert db_state() == before


def test_prescriber_cancels_with_reason_and_who(client_for, world):
    response = client_for(world.doctor).post(
        f"{URL}{world.prescription.pk}/cancel/", {"reason": "Wrong strength"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    prescription = Prescription.objects.get(pk=world.prescription.pk)
    assert prescription.cancelled_by_id == world.doctor.pk
    assert prescription.cancellation_reason == "Wrong strength"
    assert prescription.cancelled_at is not None
    assert prescription.dose == "500 mg"  # the prescription itself is untouched
    assert AuditEvent.objects.filter(action="prescription.cancel").count() == 1
    assert OutboxEvent.objects.filter(name="prescription.cancelled").count() == 1
    # a second cancellation is a 409 and changes nothing
    before = db_state()
    again = client_for(world.doctor).post(
        f"{URL}{world.prescription.pk}/cancel/", {"reason": "again"}, format="json"
    )
    assert again.status_code == 409
    assert db_state() == before


@pytest.mark.parametrize(
    ("who", "expected"),
    [("patient_a", 403), ("psychologist", 403), ("other_doctor", 404), ("staff", 403)],
)
def test_only_the_prescriber_cancels(client_for, world, who, expected):
    before = db_state()
    response = client_for(getattr(world, who)).post(
        f"{URL}{world.prescription.pk}/cancel/", {"reason": "no"}, format="json"
    )
    assert response.status_code == expected
    assert db_state() == before


@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5}])
def test_cancellation_needs_a_reason(client_for, world, payload):
    before = db_state()
    response = client_for(world.doctor).post(
        f"{URL}{world.prescription.pk}/cancel/", payload, format="json"
    )
    assert response.status_code == 400
    assert db_state() == before


def test_patients_list_their_own_prescriptions(client_for, world):
    response = client_for(world.patient_a).get(URL)
    assert [row["id"] for row in response.json()["results"]] == [world.prescription.pk]
    response = client_for(world.patient_b).get(URL)
    assert [row["id"] for row in response.json()["results"]] == [world.prescription_b.pk]
    # the patient's own read is not audited; the doctor's read is
    assert not AuditEvent.objects.filter(action="prescription.read").exists()
    client_for(world.doctor).get(URL)
    row = AuditEvent.objects.get(action="prescription.read")
    assert (row.actor_id, row.object_id) == (world.doctor.pk, str(world.prescription.pk))


def test_prescription_of_someone_else_is_404(client_for, world):
    response = client_for(world.patient_b).get(f"{URL}{world.prescription.pk}/")
    assert response.status_code == 404
    response = client_for(world.other_doctor).get(f"{URL}{world.prescription.pk}/pdf/")
    assert response.status_code == 404


def test_pdf_is_rendered_for_the_patient(client_for, world):
    prescription = PrescriptionFactory.create(
        consultation=world.done_consultation,
        prescriber=world.doctor,
        medication="Metformin <b>&",
        instructions="Take with breakfast",
    )
    response = client_for(world.patient_a).get(f"{URL}{prescription.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "Metformin <b>&" in text
    assert "500 mg" in text
    assert "Take with breakfast" in text
    assert f"Prescription no. {prescription.pk}" in text


@pytest.mark.parametrize(
    "overrides",
    [
        {"consultation": "1"},
        {"consultation": None},
        {"quantity": 0},
        {"quantity": "15"},
        {"quantity": 1.5},
        {"refills": 13},
        {"refills": True},
        {"route": "by mouth"},
        {"medication": ""},
        {"medication": 42},
        {"dose": None},
        {"flag": "x"},
    ],
)
def test_prescription_bad_input_is_400(client_for, world, overrides):
    before = db_state()
    response = client_for(world.doctor).post(
        URL, body(world.done_consultation.pk, **overrides), format="json"
    )
    assert response.status_code == 400, response.json()
    assert db_state() == before


@pytest.mark.parametrize(("consultation_id", "expected"), [(999999, 404), (2**63, 400), (-1, 400)])
def test_prescription_on_unknown_consultation(client_for, world, consultation_id, expected):
    before = db_state()
    response = client_for(world.doctor).post(URL, body(consultation_id), format="json")
    assert response.status_code == expected
    assert db_state() == before


def test_prescription_malformed_json_and_missing_fields(client_for, world):
    before = db_state()
    client = client_for(world.doctor)
    assert client.post(URL, data="{", content_type="application/json").status_code == 400
    assert client.post(URL, {}, format="json").status_code == 400
    assert client.post(URL, [], format="json").status_code == 400
    assert db_state() == before
