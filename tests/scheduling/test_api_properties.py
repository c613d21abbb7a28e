"""Property-based: no body or query string sent to the scheduling API gets a 5xx."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling import services
from tests.factories import DoctorFactory, PatientFactory, SlotFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
datetimes = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
times = st.times().map(lambda t: t.isoformat())
dates = st.dates().map(lambda d: d.isoformat())
ids = st.integers(min_value=-5, max_value=2**64)


def _bodies(**fields: st.SearchStrategy) -> st.SearchStrategy:
    """Known keys with plausible or wild values, sometimes extra keys, sometimes not a dict."""
    plausible = st.fixed_dictionaries({}, optional={k: v | json_values for k, v in fields.items()})
    return plausible | json_values


def _assert_clean(response) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) >= {"code", "message", "details", "request_id"}


@pytest.fixture
def world(client_for):
    doctor, patient = DoctorFactory(), PatientFactory()
    slot = SlotFactory(clinician=doctor, start=hours_from_now(48), end=hours_from_now(48.5))
    appointment = services.appointment_book(patient=patient, slot_id=slot.pk)
    SlotFactory(clinician=doctor, start=hours_from_now(72), end=hours_from_now(72.5))
    return {
        "doctor": client_for(doctor),
        "patient": client_for(patient),
        "appointment": appointment,
    }


@FUZZ
@given(
    body=_bodies(
        start=datetimes,
        end=datetimes,
        slot_minutes=st.integers(-10, 10_000),
        mode=st.sampled_from(["in_person", "video", "x"]),
        hospital=ids,
    )
)
def test_publish_availability_never_5xx(world, body):
    _assert_clean(world["doctor"].post("/api/v1/availability/", body, format="json"))


@FUZZ
@given(
    body=_bodies(
        weekday=st.integers(-3, 10),
        start_time=times,
        end_time=times,
        time_zone=st.sampled_from(["Europe/London", "America/New_York", "UTC", "Nope/x", ""]),
        slot_minutes=st.integers(-10, 1000),
        buffer_minutes=st.integers(-10, 1000),
        valid_from=dates,
        valid_until=dates,
    )
)
def test_publish_rule_never_5xx(world, body):
    _assert_clean(world["doctor"].post("/api/v1/availability/rules/", body, format="json"))


@FUZZ
@given(body=_bodies(slot=ids, reason=st.text(max_size=50)))
def test_book_never_5xx(world, body):
    response = world["patient"].post(
        "/api/v1/appointments/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    _assert_clean(response)


@FUZZ
@given(
    path=st.sampled_from(["", "cancel/", "reschedule/"]),
    method=st.sampled_from(["patch", "post"]),
    body=_bodies(slot=ids, reason=st.text(max_size=50), notes=st.text(max_size=50)),
)
def test_appointment_writes_never_5xx(world, path, method, body):
    url = f"/api/v1/appointments/{world['appointment'].pk}/{path}"
    _assert_clean(getattr(world["patient"], method)(url, body, format="json"))


@FUZZ
@given(raw=st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
def test_raw_bytes_never_5xx(world, raw):
    response = world["patient"].generic(
        "POST",
        "/api/v1/appointments/",
        raw,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    _assert_clean(response)


@FUZZ
@given(
    url=st.sampled_from(["/api/v1/availability/", "/api/v1/appointments/"]),
    params=st.dictionaries(
        st.sampled_from(["clinician", "patient", "from", "to", "status", "page", "page_size"]),
        st.text(max_size=25) | datetimes | ids.map(str),
        max_size=4,
    ),
)
def test_list_queries_never_5xx(world, url, params):
    _assert_clean(world["patient"].get(url, params))


def test_the_fuzz_world_is_sane(world):
    """The fixture really has a bookable slot, so the properties above reach the services."""
    response = world["patient"].get("/api/v1/availability/")

    assert response.json()["count"] == 1
    assert json.loads(json.dumps(response.json()))["results"][0]["status"] == "open"
    assert world["appointment"].start > hours_from_now(0) + timedelta(hours=24)
