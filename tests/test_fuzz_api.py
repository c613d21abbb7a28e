"""No request gets a 500: schemathesis fuzzes every operation of ``/api/schema/``.

The schema is read from the WSGI app itself, so every endpoint any app adds is fuzzed
without touching this file. Each generated case (valid and deliberately invalid data)
is sent as a patient, a doctor and staff with the ids of records that exist, and once
as a patient with the generated ids. Every answer must be below 500, carry
``X-Request-ID``, and every 4xx must be the error envelope.

Bounded: FUZZ_MAX_EXAMPLES examples per operation (env ``CAREBOOK_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from rest_framework_simplejwt.tokens import RefreshToken

from config.wsgi import application
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    HospitalFactory,
    PatientFactory,
    SlotFactory,
    StaffFactory,
)

FUZZ_MAX_EXAMPLES = int(os.environ.get("CAREBOOK_FUZZ_EXAMPLES", "5"))

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


@pytest.fixture
def world(db) -> dict[str, Any]:
    """A small clinic whose ids replace the generated path parameters."""
    hospital = HospitalFactory()
    doctor = DoctorFactory(profile__hospital=hospital)
    patient = PatientFactory()
    staff = StaffFactory()
    appointment = AppointmentFactory(patient=patient, slot__clinician=doctor)
    open_slot = SlotFactory(clinician=doctor)
    return {
        "callers": {"patient": patient, "doctor": doctor, "staff": staff},
        "headers": {name: bearer(user) for name, user in
                    {"patient": patient, "doctor": doctor, "staff": staff}.items()},
        "ids": {
            "appointment_id": appointment.pk,
            "slot_id": open_slot.pk,
            "user_id": patient.pk,
            "patient_id": patient.pk,
            "clinician_id": doctor.pk,
            "hospital_id": hospital.pk,
        },
    }  # fmt: skip


def assert_well_behaved(response: Any, label: str) -> None:
    assert response.status_code < 500, (
        f"{label} answered {response.status_code}: {response.content[:500]!r}"
    )
    assert response.headers.get("x-request-id"), f"{label}: no X-Request-ID"
    if response.status_code >= 400 and response.content:
        body = json.loads(response.content)
        assert set(body) == {"error"}, f"{label}: not the error envelope: {body!r}"
        assert {"code", "message", "details", "request_id"} <= set(body["error"]), label


ROLES = ("patient", "doctor", "staff")
_calls = {"count": 0}


@schema.parametrize()
@settings(
    max_examples=FUZZ_MAX_EXAMPLES,
    deadline=None,
    database=None,  # nothing written to .hypothesis/
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_500(case, world):
    generated_ids = dict(case.path_parameters or {})

    # as a patient with whatever ids were generated
    response = case.call(headers=world["headers"]["patient"])
    assert_well_behaved(response, f"{case.method} {case.formatted_path} (patient, generated ids)")

    # and with the ids of records that exist, as each role in turn (one call per example
    # keeps the run short; the roles rotate across the examples of an operation)
    if generated_ids:
        case.path_parameters = {
            name: world["ids"].get(name, value) for name, value in generated_ids.items()
        }
    role = ROLES[_calls["count"] % len(ROLES)]
    _calls["count"] += 1
    response = case.call(headers=world["headers"][role])
    assert_well_behaved(response, f"{case.method} {case.formatted_path} ({role})")
