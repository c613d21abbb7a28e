"""GET /api/v1/audit-events/: staff only, filtered, paginated, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from core.audit import audit_record
from tests.factories import DoctorFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events/"


def record(actor, action: str, obj=None):
    with transaction.atomic():
        return audit_record(actor=actor, action=action, obj=obj)


@pytest.fixture
def trail():
    doctor, patient = DoctorFactory(), PatientFactory()
    return {
        "doctor": doctor,
        "patient": patient,
        "book": record(patient, "appointment.book", ("scheduling.appointment", 1)),
        "cancel": record(patient, "appointment.cancel", ("scheduling.appointment", 1)),
        "slot": record(doctor, "slot.create", ("scheduling.slot", 9)),
    }


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def test_staff_lists_newest_first_with_every_field(client_for, trail):
    response = client_for(StaffFactory()).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert ids(response) == [trail["slot"].pk, trail["cancel"].pk, trail["book"].pk]
    row = body["results"][2]
    assert row == {
        "id": trail["book"].pk,
        "occurred_at": row["occurred_at"],
        "actor_id": trail["patient"].pk,
        "actor_role": "patient",
        "action": "appointment.book",
        "object_type": "scheduling.appointment",
        "object_id": "1",
        "changes": {},
        "metadata": {},
        "request_id": "",
        "ip_address": None,
        "sealed": False,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor={doctor}", ["slot"]),
        ("action=appointment.book", ["book"]),
        ("action=appointment.", ["cancel", "book"]),
        ("object_type=scheduling.appointment&object_id=1", ["cancel", "book"]),
        ("object_type=scheduling.slot", ["slot"]),
        ("object_id=404", []),
    ],
)
def test_filters(client_for, trail, query, expected):
    query = query.format(doctor=trail["doctor"].pk)
    response = client_for(StaffFactory()).get(f"{URL}?{query}")
    assert response.status_code == 200
    assert ids(response) == [trail[name].pk for name in expected]


def test_date_range_filter_is_from_inclusive_to_exclusive(client_for, trail):
    now = timezone.now()
    client = client_for(StaffFactory())
    past = (now - timedelta(days=1)).isoformat()
    future = (now + timedelta(days=1)).isoformat()
    assert len(ids(client.get(URL, {"from": past, "to": future}))) == 3
    assert ids(client.get(URL, {"from": future})) == []
    assert ids(client.get(URL, {"to": past})) == []


def test_pagination(client_for, trail):
    response = client_for(StaffFactory()).get(URL, {"page_size": 2})
    body = response.json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"actor": "abc"}, "actor"),
        ({"actor": "0"}, "actor"),
        ({"actor": str(10**20)}, "actor"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
        ({"object_id": "\x00"}, "object_id"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"action": "x" * 101}, "action"),
    ],
)
def test_malformed_filters_are_400(client_for, trail, params, field):
    response = client_for(StaffFactory()).get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]


def test_inverted_range_is_400(client_for):
    now = timezone.now()
    response = client_for(StaffFactory()).get(
        URL, {"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_range"


def test_page_out_of_range_is_404_envelope(client_for, trail):
    response = client_for(StaffFactory()).get(URL, {"page": 99})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("factory", [PatientFactory, DoctorFactory])
def test_non_staff_are_refused_with_403(client_for, trail, factory):
    response = client_for(factory()).get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_anonymous_is_401(api_client, trail):
    response = api_client.get(URL)
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_trail_cannot_be_written_over_the_api(client_for, trail, method):
    response = getattr(client_for(StaffFactory()), method)(URL, {"action": "x"}, format="json")
    assert response.status_code == 405
    assert AuditEvent.objects.count() == 3


def test_request_through_the_api_records_request_id_and_ip(client_for):
    """An audited API write carries the request's X-Request-ID and client address."""
    from tests.factories import SlotFactory
    from tests.scheduling.conftest import hours_from_now

    patient = PatientFactory()
    start = hours_from_now(48)
    slot = SlotFactory(clinician=DoctorFactory(), start=start, end=start + timedelta(minutes=30))
    response = client_for(patient).post(
        "/api/v1/appointments/",
        {"slot": slot.pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY="audit-api-key-1",
        HTTP_X_REQUEST_ID="trace-abc-12345",
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 201, response.content
    row = AuditEvent.objects.get(action="appointment.book")
    assert row.request_id == "trace-abc-12345"
    assert row.ip_address == "198.51.100.7"
    assert row.actor_id == patient.pk
