"""Consultation API: visibility, notes privacy, immutability, addenda, audit, bad input."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from consultations.models import Consultation, ConsultationAddendum
from core.models import OutboxEvent
from core.outbox import outbox_event_deliver
from scheduling.models import Appointment
from tests.clinical_world import db_state
from tests.factories import AddendumFactory, PatientFactory, appointment_for

pytestmark = pytest.mark.django_db


def ids(response) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


# --- reads ------------------------------------------------------------------------------


def test_patient_lists_only_their_own_consultations(client_for, world):
    response = client_for(world.patient_a).get("/api/v1/consultations/")
    assert response.status_code == 200
    assert ids(response) == {
        world.open_consultation.pk,
        world.done_consultation.pk,
        world.psych_consultation.pk,
    }


def test_clinician_lists_the_consultations_of_their_patients(client_for, world):
    # the doctor treats A only: all of A's consultations (incl. the psychologist's), not B's
    response = client_for(world.doctor).get("/api/v1/consultations/")
    assert ids(response) == {
        world.open_consultation.pk,
        world.done_consultation.pk,
        world.psych_consultation.pk,
    }
    response = client_for(world.other_doctor).get("/api/v1/consultations/")
    assert ids(response) == {world.consultation_b.pk}


def test_list_filters_by_derived_status_and_patient(client_for, world):
    client = client_for(world.doctor)
    response = client.get("/api/v1/consultations/", {"status": "completed"})
    assert ids(response) == {world.done_consultation.pk}
    response = client.get("/api/v1/consultations/", {"patient": world.patient_b.pk})
    assert ids(response) == set()


@pytest.mark.parametrize("params", [{"status": "done"}, {"patient": "abc"}, {"patient": "-1"}])
def test_list_rejects_bad_query_parameters(client_for, world, params):
    response = client_for(world.doctor).get("/api/v1/consultations/", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_notes_are_private_to_the_clinician_until_shared(client_for, world):
    consultation = world.open_consultation
    url = f"/api/v1/consultations/{consultation.pk}/"
    # the clinician reads them; the patient and the patient's other clinician do not
    assert client_for(world.doctor).get(url).json()["notes"] == "Private draft"
    assert client_for(world.patient_a).get(url).json()["notes"] is None
    assert client_for(world.psychologist).get(url).json()["notes"] is None
    # when the clinician shares them, the patient reads them (other clinicians still not)
    client_for(world.doctor).patch(url, {"notes_shared_with_patient": True}, format="json")
    assert client_for(world.patient_a).get(url).json()["notes"] == "Private draft"
    assert client_for(world.psychologist).get(url).json()["notes"] is None


def test_patient_sees_only_shared_addenda(client_for, world):
    consultation = world.done_consultation
    shared = AddendumFactory.create(
        consultation=consultation, author=world.doctor, shared_with_patient=True
    )
    AddendumFactory.create(
        consultation=consultation, author=world.doctor, shared_with_patient=False
    )
    url = f"/api/v1/consultations/{consultation.pk}/"
    assert [a["id"] for a in client_for(world.patient_a).get(url).json()["addenda"]] == [shared.pk]
    assert len(client_for(world.doctor).get(url).json()["addenda"]) == 2


@pytest.mark.parametrize(
    "who", ["other_doctor", "patient_b"], ids=["unrelated doctor", "another patient"]
)
def test_a_record_you_may_not_see_is_404(client_for, world, who):
    response = client_for(getattr(world, who)).get(
        f"/api/v1/consultations/{world.open_consultation.pk}/"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "consultation_not_found"


@pytest.mark.parametrize("consultation_id", [999999, 99999999999999999999])
def test_unknown_ids_are_404(client_for, world, consultation_id):
    response = client_for(world.doctor).get(f"/api/v1/consultations/{consultation_id}/")
    assert response.status_code == 404


def test_foreign_reads_are_audited_own_reads_are_not(client_for, world):
    consultation = world.open_consultation
    url = f"/api/v1/consultations/{consultation.pk}/"
    # when the patient reads their own record: no audit row
    client_for(world.patient_a).get(url)
    assert not AuditEvent.objects.filter(action="consultation.read").exists()
    # when the doctor reads it (someone else's record): one row naming reader and patient
    client_for(world.doctor).get(url)
    row = AuditEvent.objects.get(action="consultation.read")
    assert row.actor_id == world.doctor.pk
    assert row.object_id == str(consultation.pk)
    assert row.metadata == {"surface": "api", "patient_id": world.patient_a.pk}
    # when the doctor lists: one row per record on the page
    client_for(world.doctor).get("/api/v1/consultations/")
    assert AuditEvent.objects.filter(action="consultation.read").count() == 1 + 3


# --- creation with the appointment -----------------------------------------------------


def _book(clinician, patient=None):
    from scheduling.services import appointment_book
    from tests.factories import SlotFactory

    slot = SlotFactory(clinician=clinician)
    return appointment_book(patient=patient or PatientFactory(), slot_id=slot.pk)


def test_booking_creates_its_consultation_with_the_appointment(world):
    # given a booking through scheduling's service
    appointment = _book(world.doctor)
    # then its consultation exists at once, recorded by the booking's own audit row
    consultation = Consultation.objects.get(appointment=appointment)
    assert consultation.status == "scheduled"
    booked = AuditEvent.objects.get(action="appointment.book", object_id=str(appointment.pk))
    assert booked.actor_id == appointment.patient_id
    # when the booking's event is delivered, and delivered again (a crash's redelivery)
    scheduled = OutboxEvent.objects.get(name="appointment.scheduled")
    outbox_event_deliver(event_id=scheduled.id)
    OutboxEvent.objects.filter(pk=scheduled.pk).update(delivered_at=None)
    outbox_event_deliver(event_id=scheduled.id)
    # then nothing more is created
    assert Consultation.objects.filter(appointment=appointment).count() == 1


def test_booking_pays_one_insert_and_no_read_for_its_consultation(world):
    # given an open slot; when a patient books it
    with CaptureQueriesContext(connection) as queries:
        _book(world.doctor)
    # then the consultation table is touched once, by its INSERT (sent in one statement
    # with the booking's audit row and event: core.sql.statements_together), never read
    touching = [
        q["sql"] for q in queries.captured_queries if "consultations_consultation" in q["sql"]
    ]
    assert len(touching) == 1
    assert 'INSERT INTO "consultations_consultation"' in touching[0]
    assert 'FROM "consultations_consultation"' not in touching[0]


class _Abort(Exception):
    pass


def _book_then_fail(clinician, patient) -> None:
    with transaction.atomic():
        _book(clinician, patient)
        raise _Abort


def test_a_rolled_back_booking_leaves_no_consultation(world):
    # given a booking whose transaction then fails
    patient = PatientFactory()
    with pytest.raises(_Abort):
        _book_then_fail(world.doctor, patient)
    # then neither the appointment nor its consultation exists
    assert not Consultation.objects.filter(appointment__patient=patient).exists()
    assert not Appointment.objects.filter(patient=patient).exists()


@pytest.mark.parametrize("reader", ["patient_a", "doctor"])
def test_listing_consultations_writes_nothing_but_read_audit(client_for, world, reader):
    # given an appointment that has no consultation (made without the booking service)
    appointment = appointment_for(world.doctor, world.patient_a, hours=120)
    client = client_for(getattr(world, reader))
    # when the patient or their clinician lists consultations
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/consultations/")
    # then nothing is created: the only INSERTs are the audit rows of a clinician's reads
    assert response.status_code == 200
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert all('"audit_auditevent"' in sql for sql in inserts), inserts
    assert bool(inserts) == (reader == "doctor")
    assert not Consultation.objects.filter(appointment=appointment).exists()


def test_the_migration_gives_every_older_appointment_its_consultation(world):
    # given appointments from before consultations were created with them
    migration = importlib.import_module(
        "consultations.migrations.0003_consultation_for_every_appointment"
    )
    older = [appointment_for(world.doctor, PatientFactory(), hours=h) for h in (-5, 48)]
    # when the data migration runs, twice
    migration.create_missing(django_apps, None)
    migration.create_missing(django_apps, None)
    # then each has one consultation, audited once by the system
    for appointment in older:
        consultation = Consultation.objects.get(appointment=appointment)
        audit = AuditEvent.objects.get(action="consultation.create", object_id=str(consultation.pk))
        assert audit.actor_id is None
    assert not Appointment.objects.filter(consultation__isnull=True).exists()


# --- notes ------------------------------------------------------------------------------


def test_clinician_writes_notes_audited_without_their_text(client_for, world):
    consultation = world.open_consultation
    response = client_for(world.doctor).patch(
        f"/api/v1/consultations/{consultation.pk}/",
        {"notes": "BP 120/80, advised rest"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["notes"] == "BP 120/80, advised rest"
    consultation.refresh_from_db()
    assert consultation.notes == "BP 120/80, advised rest"
    row = AuditEvent.objects.get(action="consultation.update")
    assert row.actor_id == world.doctor.pk
    assert set(row.changes) == {"notes"}
    assert "BP 120/80" not in str(row.changes)  # the audit log is read by staff
    event = OutboxEvent.objects.get(name="consultation.updated")
    assert event.payload["fields"] == ["notes"]


def test_completed_consultation_refuses_notes_and_takes_an_addendum(client_for, world):
    consultation = world.done_consultation
    client = client_for(world.doctor)
    before = db_state()
    # when the clinician edits the notes of the completed consultation
    response = client.patch(
        f"/api/v1/consultations/{consultation.pk}/", {"notes": "rewritten"}, format="json"
    )
    # then 409 and nothing changed
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "consultation_immutable"
    assert db_state() == before
    # when they add an addendum instead: a new row linked to the original
    response = client.post(
        f"/api/v1/consultations/{consultation.pk}/addenda/",
        {"text": "Correction: dose was 250 mg", "shared_with_patient": True},
        format="json",
    )
    assert response.status_code == 201
    addendum = ConsultationAddendum.objects.get()
    assert addendum.consultation_id == consultation.pk
    assert addendum.author_id == world.doctor.pk
    consultation.refresh_from_db()
    assert consultation.notes == "Final notes"
    assert AuditEvent.objects.filter(action="consultation.addendum_add").count() == 1
    assert OutboxEvent.objects.filter(name="consultation.addendum_added").count() == 1


def test_addendum_on_an_open_consultation_is_409(client_for, world):
    before = db_state()
    response = client_for(world.doctor).post(
        f"/api/v1/consultations/{world.open_consultation.pk}/addenda/",
        {"text": "too early"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "consultation_not_completed"
    assert db_state() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"notes": 123},
        {"notes": None},
        {"notes_shared_with_patient": "yes"},
        {"status": "completed"},
        {"notes": "x" * 20001},
        [],
        "notes",
    ],
    ids=[
        "empty",
        "int notes",
        "null notes",
        "string bool",
        "status here",
        "too long",
        "list",
        "str",
    ],
)
def test_notes_bad_input_is_400_and_changes_nothing(client_for, world, body):
    before = db_state()
    response = client_for(world.doctor).patch(
        f"/api/v1/consultations/{world.open_consultation.pk}/", body, format="json"
    )
    assert response.status_code == 400, response.json()
    assert db_state() == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/consultations/{id}/",
        "/api/v1/consultations/{id}/status/",
        "/api/v1/consultations/{id}/addenda/",
    ],
)
def test_malformed_json_is_400_on_every_write(client_for, world, url):
    before = db_state()
    client = client_for(world.doctor)
    path = url.format(id=world.open_consultation.pk)
    method = client.post if path.endswith("addenda/") else client.patch
    response = method(path, data='{"notes": "x"', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert db_state() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": 1},
        {"status": "finished"},
        {"status": None},
        {"status": "in_progress", "x": 1},
    ],
)
def test_status_bad_input_is_400_and_changes_nothing(client_for, world, body):
    before = db_state()
    response = client_for(world.doctor).patch(
        f"/api/v1/consultations/{world.open_consultation.pk}/status/", body, format="json"
    )
    assert response.status_code == 400
    assert db_state() == before


def test_status_of_an_unknown_consultation_is_404(client_for, world):
    before = db_state()
    response = client_for(world.doctor).patch(
        "/api/v1/consultations/999999/status/", {"status": "in_progress"}, format="json"
    )
    assert response.status_code == 404
    assert db_state() == before
