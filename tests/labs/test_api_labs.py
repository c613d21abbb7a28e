"""Lab results API: computed flags, corrections that supersede, critical notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from audit.models import AuditEvent
from core.models import OutboxEvent
from core.outbox import outbox_event_deliver
from labs.models import LabResult
from notifications.models import Notification
from tests.clinical_world import db_state

pytestmark = pytest.mark.django_db

URL = "/api/v1/lab-results/"


def body(patient_id: int, **overrides):
    collected = timezone.now() - timedelta(hours=3)
    return {
        "patient": patient_id,
        "test_code": "2823-3",
        "test_name": "Potassium",
        "value": 4.2,
        "unit": "mmol/L",
        "reference_range": {"low": 3.5, "high": 5.1, "critical_low": 2.5, "critical_high": 6.5},
        "collected_at": collected.isoformat(),
        "reported_at": (collected + timedelta(hours=1)).isoformat(),
        "status": "final",
        **overrides,
    }


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        (3.5, "normal"),
        (3.4999, "low"),
        (5.1, "normal"),
        ("5.1001", "high"),
        (2.5, "low"),
        (2.4999, "critical"),
        (6.5001, "critical"),
        ("positive", None),
        ("<0.1", None),
    ],
)
def test_flag_is_computed_from_value_and_range(client_for, world, value, flag):
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, value=value), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["flag"] == flag
    assert LabResult.objects.get(pk=response.json()["id"]).flag == flag


def test_no_range_means_no_flag(client_for, world):
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, reference_range=None), format="json"
    )
    assert response.status_code == 201
    assert response.json()["flag"] is None


def test_the_client_cannot_send_a_flag(client_for, world):
    before = db_state()
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, flag="normal", value=9.9), format="json"
    )
    assert response.status_code == 400
    assert "flag" in response.json()["error"]["details"]["fields"]
    assert db_state() == before


def test_create_is_audited_and_published(client_for, world):
    response = client_for(world.doctor).post(URL, body(world.patient_a.pk), format="json")
    result = LabResult.objects.get(pk=response.json()["id"])
    assert result.ordering_clinician_id == world.doctor.pk
    audit = AuditEvent.objects.get(action="lab_result.create")
    assert (audit.actor_id, audit.object_id) == (world.doctor.pk, str(result.pk))
    event = OutboxEvent.objects.get(name="lab_result.created")
    assert event.payload["lab_result_id"] == result.pk
    assert event.payload["flag"] == "normal"


def test_critical_result_notifies_the_ordering_clinician_exactly_once(client_for, world):
    # given a critical potassium recorded by the psychologist's colleague, the doctor
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, value=7.0), format="json"
    )
    assert response.json()["flag"] == "critical"
    event = OutboxEvent.objects.get(name="lab_result.created")
    # when the event is delivered, then redelivered (a worker crash after the work), each
    # followed by what its commit runs (the email is sent after commit)
    with TestCase.captureOnCommitCallbacks(execute=True):
        outbox_event_deliver(event_id=event.id)
    OutboxEvent.objects.filter(pk=event.pk).update(delivered_at=None)
    with TestCase.captureOnCommitCallbacks(execute=True):
        outbox_event_deliver(event_id=event.id)
    # then one notification and one email, to the ordering clinician only
    notification = Notification.objects.get()
    assert notification.recipient_id == world.doctor.pk
    assert notification.kind == "lab_result_critical"
    assert notification.status == "sent"
    critical_mails = [m for m in mail.outbox if "Critical lab result" in m.subject]
    assert len(critical_mails) == 1
    assert critical_mails[0].to == [world.doctor.email]
    assert "7.0" not in critical_mails[0].body  # no value in an email


def test_non_critical_result_notifies_nobody(client_for, world):
    client_for(world.doctor).post(URL, body(world.patient_a.pk, value=5.5), format="json")
    outbox_event_deliver(event_id=OutboxEvent.objects.get(name="lab_result.created").id)
    assert not Notification.objects.exists()


def test_correction_supersedes_and_never_overwrites(client_for, world):
    original = world.lab_result
    original_row = LabResult.objects.filter(pk=original.pk).values().get()
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, value=3.0, supersedes=original.pk), format="json"
    )
    assert response.status_code == 201, response.json()
    correction = LabResult.objects.get(pk=response.json()["id"])
    assert correction.status == "corrected"
    assert correction.supersedes_id == original.pk
    assert correction.flag == "low"
    # the original row is exactly as it was, and now points at its correction
    assert LabResult.objects.filter(pk=original.pk).values().get() == original_row
    listed = {r["id"]: r for r in client_for(world.patient_a).get(URL).json()["results"]}
    assert listed[original.pk]["superseded_by"] == correction.pk
    current = client_for(world.patient_a).get(URL, {"current": "true"}).json()["results"]
    assert original.pk not in {r["id"] for r in current}
    assert AuditEvent.objects.filter(action="lab_result.correct").count() == 1
    # a second correction of the same original is a 409
    before = db_state()
    again = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, value=3.1, supersedes=original.pk), format="json"
    )
    assert again.status_code == 409
    assert db_state() == before


def test_correction_must_keep_patient_and_test(client_for, world):
    before = db_state()
    response = client_for(world.doctor).post(
        URL,
        body(world.patient_a.pk, test_code="718-7", supersedes=world.lab_result.pk),
        format="json",
    )
    assert response.status_code == 400
    # a result the doctor may not see cannot be superseded: 404
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, supersedes=world.lab_result_b.pk), format="json"
    )
    assert response.status_code == 404
    assert db_state() == before


def test_corrected_status_without_supersedes_is_400(client_for, world):
    before = db_state()
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, status="corrected"), format="json"
    )
    assert response.status_code == 400
    assert db_state() == before


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("doctor", 201),
        ("psychologist", 201),
        ("other_doctor", 404),
        ("patient_a", 403),
        ("staff", 403),
    ],
)
def test_who_records_a_result_for_patient_a(client_for, world, who, expected):
    before = db_state()
    response = client_for(getattr(world, who)).post(URL, body(world.patient_a.pk), format="json")
    assert response.status_code == expected
    if expected != 201:
        assert db_state() == before


def test_consultation_must_be_the_patients(client_for, world):
    before = db_state()
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, consultation=world.consultation_b.pk), format="json"
    )
    assert response.status_code == 404
    assert db_state() == before
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, consultation=world.done_consultation.pk), format="json"
    )
    assert response.status_code == 201
    assert response.json()["consultation"] == world.done_consultation.pk


@pytest.mark.parametrize(
    "overrides",
    [
        {"value": True},
        {"value": None},
        {"value": {}},
        {"value": ""},
        {"value": "x" * 201},
        {"value": 1e20},
        {"value": "1.23456"},
        {"value": [4.2]},
        {"patient": "1"},
        {"test_code": 5},
        {"reference_range": {"low": "abc"}},
        {"reference_range": {"low": 5, "high": 4}},
        {"reference_range": {"low": 3, "critical_low": 4}},
        {"reference_range": {"lo": 3}},
        {"reference_range": [1, 2]},
        {"collected_at": "yesterday"},
        {"status": "done"},
        {"reported_at": (timezone.now() - timedelta(days=30)).isoformat()},
    ],
)
def test_lab_bad_input_is_400(client_for, world, overrides):
    before = db_state()
    response = client_for(world.doctor).post(
        URL, body(world.patient_a.pk, **overrides), format="json"
    )
    assert response.status_code == 400, response.json()
    assert db_state() == before


def test_lab_malformed_json_missing_fields_and_unknown_patient(client_for, world):
    before = db_state()
    client = client_for(world.doctor)
    assert client.post(URL, data="{", content_type="application/json").status_code == 400
    nan = f'{{"patient": {world.patient_a.pk}, "value": NaN}}'
    assert client.post(URL, data=nan, content_type="application/json").status_code == 400
    assert client.post(URL, {}, format="json").status_code == 400
    assert client.post(URL, body(999999), format="json").status_code == 404
    assert client.post(URL, body(world.patient_b.pk), format="json").status_code == 404
    assert db_state() == before


def test_patients_see_their_own_results_and_reads_are_audited(client_for, world):
    rows = client_for(world.patient_a).get(URL).json()["results"]
    assert [r["id"] for r in rows] == [world.lab_result.pk]
    assert not AuditEvent.objects.filter(action="lab_result.read").exists()
    assert client_for(world.patient_b).get(f"{URL}{world.lab_result.pk}/").status_code == 404
    assert client_for(world.other_doctor).get(f"{URL}{world.lab_result.pk}/").status_code == 404
    client_for(world.psychologist).get(f"{URL}{world.lab_result.pk}/")
    row = AuditEvent.objects.get(action="lab_result.read")
    assert row.actor_id == world.psychologist.pk
    assert row.metadata == {"surface": "api", "patient_id": world.patient_a.pk}


@pytest.mark.parametrize("params", [{"flag": "weird"}, {"patient": "x"}, {"current": "maybe"}])
def test_lab_list_bad_query_is_400(client_for, world, params):
    assert client_for(world.doctor).get(URL, params).status_code == 400
