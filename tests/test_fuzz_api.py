"""No request gets a 500: schemathesis fuzzes every operation of ``/api/schema/``.

The schema is read from the WSGI app itself, so every endpoint any app adds is fuzzed
without touching this file. Each generated case (valid and deliberately invalid data)
is sent as a patient, a doctor and staff with the ids of records that exist, and once
as a patient with the generated ids. Every answer must be below 500, carry
``X-Request-ID``, and every 4xx must be the error envelope.

Bounded: FUZZ_MAX_EXAMPLES examples per operation (env ``CAREBOOK_FUZZ_EXAMPLES``);
``CAREBOOK_FUZZ_PATHS`` (a regex) narrows the run to some paths while debugging.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import RefreshToken

from config.wsgi import application
from scheduling.models import AppointmentSeries
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    HospitalFactory,
    PatientFactory,
    SlotFactory,
    StaffFactory,
)
from waitlist import services as waitlist_services

FUZZ_MAX_EXAMPLES = int(os.environ.get("CAREBOOK_FUZZ_EXAMPLES", "4"))

schema: Any = schemathesis.openapi.from_wsgi("/api/schema/", application)
if os.environ.get("CAREBOOK_FUZZ_PATHS"):  # e.g. "appointments" to fuzz only those paths
    schema = schema.include(path_regex=os.environ["CAREBOOK_FUZZ_PATHS"])


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


@pytest.fixture
def keep_test_connection():
    """As Django's test client does: a request must not close the test's DB connection.

    The WSGI handler closes "old" connections when a request starts and finishes; on
    PostgreSQL that would close the connection holding the test transaction.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, keep_test_connection):
    """A small clinic whose ids replace the generated path parameters."""
    hospital = HospitalFactory()
    doctor = DoctorFactory(profile__hospital=hospital)
    patient = PatientFactory()
    staff = StaffFactory()
    appointment = AppointmentFactory(patient=patient, slot__clinician=doctor)
    open_slot = SlotFactory(clinician=doctor)
    series = AppointmentSeries.objects.create(
        patient=patient, clinician=doctor, count=2, first_start=appointment.start, time_zone="UTC"
    )
    AppointmentFactory(patient=patient, slot__clinician=doctor, series=series)
    # The patient waits for the doctor and holds the offer of a freed slot (#16).
    entry = waitlist_services.entry_join(patient=patient, clinician=doctor, actor=patient)
    offer = waitlist_services.slot_offer_next(slot_id=SlotFactory(clinician=doctor).pk)
    assert offer is not None
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
            "series_id": series.pk,
            "entry_id": entry.pk,
            "offer_id": offer.pk,
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


def call(case: Any, headers: dict[str, str]) -> Any:
    """Send the case inside a savepoint of the test's transaction.

    A handled database error (an out-of-range value answered 400) aborts the enclosing
    PostgreSQL transaction; in production there is none, so each request is on its own.
    Here the savepoint gives every request the same clean start.
    """
    response = None
    try:
        with transaction.atomic():
            response = case.call(headers=headers)
    except DatabaseError:
        pass  # the savepoint was rolled back; the answer was already received
    assert response is not None
    return response


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
    response = call(case, world["headers"]["patient"])
    assert_well_behaved(response, f"{case.method} {case.formatted_path} (patient, generated ids)")

    # and with the ids of records that exist, as each role in turn (one call per example
    # keeps the run short; the roles rotate across the examples of an operation)
    if generated_ids:
        case.path_parameters = {
            name: world["ids"].get(name, value) for name, value in generated_ids.items()
        }
    role = ROLES[_calls["count"] % len(ROLES)]
    _calls["count"] += 1
    response = call(case, world["headers"][role])
    assert_well_behaved(response, f"{case.method} {case.formatted_path} ({role})")


# --- the calendar feed URL (outside /api/v1/, so not in the schema) --------------------


@given(
    token=st.text(max_size=300),
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    if_none_match=st.text(alphabet=st.characters(codec="latin-1"), max_size=80),
    known=st.booleans(),
)
@settings(
    max_examples=FUZZ_MAX_EXAMPLES * 25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_calendar_feed_url_never_answers_500(db, token, method, if_none_match, known):
    """/calendar/{token}.ics with any token, method and If-None-Match: a feed, 304, or a
    4xx in the envelope (unknown token 404, other method 405, too many reads 429)."""
    from urllib.parse import quote

    from django.test import Client

    from calendars.services import calendar_feed_issue

    if known:  # a real feed, read with a fuzzed If-None-Match
        path = f"/calendar/{calendar_feed_issue(owner=DoctorFactory()).token}.ics"
    else:
        path = "/calendar/" + quote(token, safe="") + ".ics"
    response = Client().generic(method, path, headers={"If-None-Match": if_none_match})
    assert response.status_code < 500, (path, method, response.content[:300])
    assert response.headers.get("X-Request-ID")
    if response.status_code >= 400 and response.content:
        assert set(json.loads(response.content)) == {"error"}
    if known and method in ("GET", "HEAD"):
        assert response.status_code in (200, 304)


# --- the FHIR door (/fhir/R4/, not in the schema: FHIR describes itself in metadata) ----

FHIR_TYPES = ["Practitioner", "Patient", "Schedule", "Slot", "Appointment", "Observation", ""]
FHIR_PARAMS = [
    "name", "identifier", "birthdate", "actor", "schedule", "status", "start", "patient",
    "practitioner", "date", "_count", "_cursor", "_format", "_sort", "name:exact",
]  # fmt: skip
_fhir_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
_fhir_value = st.one_of(
    _fhir_text,
    st.sampled_from(["", "ge", "le", "gt", "lt", "eq", "ne", "Slot/", "Patient/", "Schedule/"]),
    st.builds(lambda p, d: p + d, st.sampled_from(["", "ge", "lt", "sa"]),
              st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)  # fmt: skip
_fhir_json: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | _fhir_text,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["resourceType", "status", "slot", "participant",
                                       "actor", "reference", "start", "reasonCode", "text",
                                       "op", "path", "value", "id"]), inner, max_size=5),
    max_leaves=12,
)  # fmt: skip


@given(
    kind=st.sampled_from(FHIR_TYPES),
    ident=st.one_of(_fhir_text, st.integers(min_value=-5, max_value=2**70).map(str)),
    query=st.lists(st.tuples(st.sampled_from(FHIR_PARAMS) | _fhir_text, _fhir_value),
                   max_size=5),
    body=_fhir_json,
    method=st.sampled_from(["search", "read", "book", "patch", "put", "delete"]),
    role=st.sampled_from(ROLES),
)  # fmt: skip
@settings(
    max_examples=FUZZ_MAX_EXAMPLES * 25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_fhir_door_never_answers_500(world, kind, ident, query, body, method, role):
    """Any search, read, booking, patch or put under /fhir/R4/, as any role: an R4B resource
    below 500, and every refusal an OperationOutcome (tests.fhir.helpers validates)."""
    from urllib.parse import quote, urlencode

    from rest_framework.test import APIClient

    from tests.fhir.helpers import answer

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=world["headers"][role]["Authorization"])
    base = "/fhir/R4/" + quote(kind, safe="")
    one = method in ("read", "patch", "put", "delete")
    target = f"{base}/{quote(ident, safe='')}" if one else base
    if method in ("book", "patch", "put"):
        target = f"/fhir/R4/Appointment{target.removeprefix(base)}"
    response = None
    try:
        with transaction.atomic():
            if method in ("search", "read"):
                response = client.get(f"{target}?{urlencode(query)}")
            else:
                verb = {"book": "post", "patch": "patch", "put": "put", "delete": "delete"}[method]
                response = getattr(client, verb)(
                    target, data=json.dumps(body), content_type="application/fhir+json"
                )
    except DatabaseError:
        pass  # the savepoint was rolled back; the answer was already received
    assert response is not None
    assert response.status_code < 500, (method, target, query, response.content[:300])
    assert response.headers.get("X-Request-ID")
    resource = answer(response)
    if response.status_code >= 400:
        assert resource["resourceType"] == "OperationOutcome", resource
