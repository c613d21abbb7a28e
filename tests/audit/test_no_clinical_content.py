"""Audit rows carry ids, actions, actors, field names and keyed fingerprints, never clinical
content: ``GET audit-events/`` (staff) must not become an unaudited clinical export.

Every kind of clinical write goes through the API below with distinctive values; then the
whole audit trail, as the API serves it and as the table stores it, is searched for them.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEvent
from core.audit import FINGERPRINT_PREFIX, fingerprint
from tests.clinical_world import clinical_world
from tests.factories import (
    SlotFactory,
    StaffFactory,
    in_progress_consultation,
    scheduled_consultation,
)
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db

# Each typed by a patient or a clinician; none may reach an audit row.
REASON = "Chest pain radiating to the left arm"
NEW_REASON = "Shortness of breath at night"
APPOINTMENT_NOTES = "Suspected unstable angina"
CANCEL_REASON = "Admitted for chemotherapy"
CONSULTATION_NOTES = "BP 182/114, hypertensive urgency"
CONSULTATION_CANCEL_REASON = "Patient sectioned under the mental health act"
ADDENDUM = "Allergy to penicillin confirmed by serology"
MEDICATION = "Sertraline hydrochloride"
DOSE = "50 mg tablet"
FREQUENCY = "once nightly"
DURATION = "twenty-eight days"
INSTRUCTIONS = "Take at bedtime; review mood in two weeks"
PRESCRIPTION_CANCEL_REASON = "Reported suicidal ideation"
TEST_CODE = "HIV1RNA-QX"
TEST_NAME = "HIV-1 RNA viral load"
UNIT = "copies/mL x"
VALUE = "98765.4321"
CORRECTED_VALUE = "87654.3219"
TEXT_VALUE = "reactive-antibody-screen"
RANGE_BOUNDS = ("111.1111", "222.2222", "33.3333", "44444.4444")

CLINICAL_VALUES = [
    REASON, NEW_REASON, APPOINTMENT_NOTES, CANCEL_REASON, CONSULTATION_NOTES,
    CONSULTATION_CANCEL_REASON, ADDENDUM, MEDICATION, DOSE, FREQUENCY, DURATION,
    INSTRUCTIONS, PRESCRIPTION_CANCEL_REASON, TEST_CODE, TEST_NAME, UNIT, VALUE,
    CORRECTED_VALUE, TEXT_VALUE, *RANGE_BOUNDS, "critical",
]  # fmt: skip


def ok(response, status: int = 200):
    assert response.status_code == status, response.content
    return response.json()


def lab_body(patient_id: int, **overrides):
    collected = timezone.now() - timedelta(hours=2)
    low, high, critical_low, critical_high = RANGE_BOUNDS
    return {
        "patient": patient_id,
        "test_code": TEST_CODE,
        "test_name": TEST_NAME,
        "value": VALUE,
        "unit": UNIT,
        "reference_range": {
            "low": low,
            "high": high,
            "critical_low": critical_low,
            "critical_high": critical_high,
        },
        "collected_at": collected.isoformat(),
        **overrides,
    }


@pytest.fixture
def world():
    return clinical_world()


@pytest.fixture
def clinical_history(client_for, world):
    """Every clinical write of the product, made through the API."""
    patient, doctor = client_for(world.patient_a), client_for(world.doctor)

    # an appointment: booked with a reason, reason changed, noted, cancelled with a reason
    # half past a whole hour: clear of the world's appointments (whole days from now)
    start = hours_from_now(30 * 24 + 7.5)
    slot = SlotFactory(clinician=world.doctor, start=start, end=start + timedelta(minutes=30))
    appointment = ok(
        patient.post(
            "/api/v1/appointments/",
            {"slot": slot.pk, "reason": REASON},
            format="json",
            HTTP_IDEMPOTENCY_KEY="book-with-a-reason",
        ),
        201,
    )
    url = f"/api/v1/appointments/{appointment['id']}/"
    ok(patient.patch(url, {"reason": NEW_REASON}, format="json"))
    ok(doctor.patch(url, {"notes": APPOINTMENT_NOTES}, format="json"))
    ok(patient.post(f"{url}cancel/", {"reason": CANCEL_REASON}, format="json"))

    # a consultation: notes, completed, an addendum; another one cancelled with a reason
    consultation = in_progress_consultation(world.doctor, world.patient_a)
    url = f"/api/v1/consultations/{consultation.pk}/"
    ok(doctor.patch(url, {"notes": CONSULTATION_NOTES}, format="json"))
    ok(doctor.patch(f"{url}status/", {"status": "completed"}, format="json"))
    ok(doctor.post(f"{url}addenda/", {"text": ADDENDUM}, format="json"), 201)
    other = scheduled_consultation(world.doctor, world.patient_a, hours=24 * 40)
    ok(
        doctor.patch(
            f"/api/v1/consultations/{other.pk}/status/",
            {"status": "cancelled", "reason": CONSULTATION_CANCEL_REASON},
            format="json",
        )
    )

    # two prescriptions with the same dose; one cancelled with a reason
    prescriptions = [
        ok(
            doctor.post(
                "/api/v1/prescriptions/",
                {
                    "consultation": consultation.pk,
                    "medication": MEDICATION,
                    "dose": DOSE,
                    "route": "oral",
                    "frequency": FREQUENCY,
                    "duration": DURATION,
                    "quantity": 28,
                    "instructions": INSTRUCTIONS,
                },
                format="json",
            ),
            201,
        )
        for _ in range(2)
    ]
    ok(
        doctor.post(
            f"/api/v1/prescriptions/{prescriptions[0]['id']}/cancel/",
            {"reason": PRESCRIPTION_CANCEL_REASON},
            format="json",
        )
    )

    # a critical lab result, its correction, and a text result
    lab = ok(doctor.post("/api/v1/lab-results/", lab_body(world.patient_a.pk), format="json"), 201)
    assert lab["flag"] == "critical"
    ok(
        doctor.post(
            "/api/v1/lab-results/",
            lab_body(world.patient_a.pk, value=CORRECTED_VALUE, supersedes=lab["id"]),
            format="json",
        ),
        201,
    )
    ok(
        doctor.post(
            "/api/v1/lab-results/",
            lab_body(world.patient_a.pk, value=TEXT_VALUE, reference_range=None),
            format="json",
        ),
        201,
    )
    return {"appointment": appointment, "prescriptions": prescriptions, "lab": lab}


def served_audit_trail(client) -> str:
    """Every page of ``GET audit-events/``, as the JSON text staff receive."""
    pages, url = [], "/api/v1/audit-events/?page_size=100"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(response.content.decode())
        url = response.json()["next"]
    return "\n".join(pages)


def stored_audit_trail() -> str:
    rows = AuditEvent.objects.order_by("id").values("changes", "metadata")
    return json.dumps(list(rows))


def row(action: str, **lookup) -> AuditEvent:
    return AuditEvent.objects.filter(action=action, **lookup).order_by("id")[:1].get()


def test_no_clinical_value_appears_in_the_audit_trail(client_for, clinical_history):
    # given every kind of clinical record written and changed through the API (fixture)
    # when staff read the whole audit trail, and the table itself is read
    served = served_audit_trail(client_for(StaffFactory()))
    stored = stored_audit_trail()

    # then no clinical value appears anywhere in it
    for text in (served, stored):
        leaked = [value for value in CLINICAL_VALUES if value in text]
        assert leaked == []
    # (the search is not vacuous: the trail covers each kind of change)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "appointment.book", "appointment.update", "appointment.cancel",
        "consultation.update", "consultation.status_change", "consultation.addendum_add",
        "prescription.create", "prescription.cancel", "lab_result.create",
        "lab_result.correct",
    } <= actions  # fmt: skip


def test_field_names_and_fingerprints_are_kept(clinical_history):
    # given the clinical history, then each clinical row names its fields with fingerprints
    prescription = row("prescription.create")
    for name in ("medication", "dose", "frequency", "duration", "instructions", "quantity"):
        assert prescription.changes[name]["before"] is None
        assert prescription.changes[name]["after"].startswith(FINGERPRINT_PREFIX)
    lab = row("lab_result.create")
    for name in ("test_code", "test_name", "value", "unit", "reference_range", "flag"):
        assert lab.changes[name]["after"].startswith(FINGERPRINT_PREFIX)
    # ids and workflow facts stay readable
    assert lab.changes["patient_id"]["after"] == clinical_history["lab"]["patient"]
    assert lab.changes["status"]["after"] == "final"
    correction = row("lab_result.correct")
    assert correction.changes["supersedes"]["after"] == clinical_history["lab"]["id"]
    notes = row("consultation.update")
    assert set(notes.changes) == {"notes"}
    assert notes.changes["notes"]["after"] == fingerprint(CONSULTATION_NOTES)
    addendum = row("consultation.addendum_add")
    assert addendum.metadata["text"] == fingerprint(ADDENDUM)
    cancelled = row("prescription.cancel")
    assert cancelled.metadata == {"reason": fingerprint(PRESCRIPTION_CANCEL_REASON)}
    assert row("consultation.status_change", changes__status__after="cancelled").metadata == {
        "reason": fingerprint(CONSULTATION_CANCEL_REASON)
    }
    cancel = row("appointment.cancel", object_id=str(clinical_history["appointment"]["id"]))
    assert cancel.changes["cancellation_reason"]["after"] == fingerprint(CANCEL_REASON)


def test_equal_values_give_equal_fingerprints(clinical_history):
    # given two prescriptions with the same values, and an appointment reason changed once
    first, second = AuditEvent.objects.filter(action="prescription.create").order_by("id")[:2]
    book = row("appointment.book")
    update = row("appointment.update")

    # then equal values have equal fingerprints, and different values different ones
    assert first.changes["dose"] == second.changes["dose"]
    assert first.changes["dose"]["after"] != first.changes["medication"]["after"]
    assert update.changes["reason"]["before"] == book.changes["reason"]["after"]
    assert update.changes["reason"]["after"] != update.changes["reason"]["before"]
    assert update.changes["reason"]["after"] == fingerprint(NEW_REASON)


def test_a_fingerprint_is_keyed():
    # given the same value under two keys
    plain = fingerprint(DOSE)
    with override_settings(AUDIT_FINGERPRINT_KEY="another-key-entirely-for-this-test-only"):
        other = fingerprint(DOSE)

    # then the fingerprints differ (a reader without the key cannot confirm a guess), and
    # neither is the unkeyed SHA-256 of the value
    import hashlib

    assert plain != other
    for value in (plain, other):
        assert value is not None
        assert hashlib.sha256(DOSE.encode()).hexdigest() not in value
        assert hashlib.sha256(json.dumps(DOSE).encode()).hexdigest() not in value
    assert fingerprint(None) is None
