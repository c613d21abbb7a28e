"""POST Appointment books through scheduling's booking service; PATCH cancels through
its cancel service. Every answer validated against the R4B models; every refusal an
OperationOutcome that changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from audit.models import AuditEvent
from core.models import OutboxEvent
from scheduling import services
from scheduling.models import Appointment, Slot
from scheduling.services.holds import slot_hold
from tests.factories import AppointmentFactory, PatientFactory, SlotFactory
from tests.fhir.conftest import hours_ahead
from tests.fhir.helpers import fhir_send, outcome_code

pytestmark = pytest.mark.django_db


def booking(slot_id: Any, patient_id: Any, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}],
        **extra,
    }


def state() -> dict[str, Any]:
    return {
        "appointments": list(Appointment.objects.order_by("pk").values("pk", "status")),
        "slots": list(Slot.objects.order_by("pk").values("pk", "status", "seats_taken")),
        "audit": AuditEvent.objects.count(),
        "outbox": OutboxEvent.objects.count(),
    }


def test_post_books_the_slot_like_the_rest_api(clinic, client_for):
    # given patient A and a free slot
    slot = clinic.free[0]
    client = client_for(clinic.patient_a)
    body = booking(slot.pk, clinic.patient_a.pk, reasonCode=[{"text": "Follow-up"}])
    # when A posts the Appointment
    response, created = fhir_send(client, "post", "Appointment", body, key=str(uuid.uuid4()))
    # then it is booked through the service: the row, the slot, the audit row, the event
    assert response.status_code == 201, created
    appointment = Appointment.objects.get(pk=int(created["id"]))
    assert (appointment.patient_id, appointment.slot_id, appointment.reason) == (
        clinic.patient_a.pk, slot.pk, "Follow-up",
    )  # fmt: skip
    assert response["Location"] == f"http://testserver/fhir/R4/Appointment/{appointment.pk}"
    assert created["status"] == "booked"
    assert created["slot"] == [{"reference": f"Slot/{slot.pk}"}]
    slot.refresh_from_db()
    assert slot.status == Slot.Status.BOOKED
    audit = AuditEvent.objects.get(action="appointment.book", object_id=str(appointment.pk))
    assert audit.actor_id == clinic.patient_a.pk
    assert OutboxEvent.objects.filter(
        name="appointment.scheduled", aggregate_id=str(appointment.pk)
    ).exists()


def test_post_without_a_key_books_too(clinic, client_for):
    client = client_for(clinic.patient_a)
    body = booking(clinic.free[0].pk, clinic.patient_a.pk)
    response, _ = fhir_send(client, "post", "Appointment", body)
    assert response.status_code == 201


def test_staff_book_for_a_patient_at_the_front_desk(clinic, client_for):
    client = client_for(clinic.staff)
    response, created = fhir_send(
        client, "post", "Appointment", booking(clinic.free[1].pk, clinic.patient_b.pk)
    )
    assert response.status_code == 201
    assert Appointment.objects.get(pk=int(created["id"])).patient_id == clinic.patient_b.pk


@pytest.mark.parametrize(
    ("slot_state", "code"),
    [("booked", "slot_unavailable"), ("held", "slot_held"), ("full", "slot_full")],
)
def test_a_taken_slot_is_409_saying_why(clinic, client_for, slot_state, code):
    # given a slot booked by someone else, held for someone else, or a full group slot
    slot = clinic.free[0]
    if slot_state == "booked":
        services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    elif slot_state == "held":
        slot_hold(slot_id=slot.pk, patient=PatientFactory())
    else:
        slot = SlotFactory(clinician=clinic.doctor, start=hours_ahead(30),
                           end=hours_ahead(30.5), capacity=2)  # fmt: skip
        for _ in range(2):
            services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    before = state()
    # when patient A posts an Appointment for it
    response, body = fhir_send(
        client_for(clinic.patient_a), "post", "Appointment", booking(slot.pk, clinic.patient_a.pk)
    )
    # then 409 conflict with Carebook's code, and nothing changed
    assert response.status_code == 409
    assert outcome_code(body) == ("conflict", code)
    assert state() == before


def test_same_key_same_body_is_replayed_and_another_body_is_422(clinic, client_for):
    client, key = client_for(clinic.patient_a), str(uuid.uuid4())
    body = booking(clinic.free[0].pk, clinic.patient_a.pk)
    first, created = fhir_send(client, "post", "Appointment", body, key=key)
    replay, again = fhir_send(client, "post", "Appointment", body, key=key)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert again == created
    assert replay["Idempotent-Replayed"] == "true"
    assert Appointment.objects.count() == 3  # the clinic's two and this one
    # the same key with another body: 422, nothing booked
    before = state()
    other, refusal = fhir_send(
        client, "post", "Appointment", booking(clinic.free[1].pk, clinic.patient_a.pk), key=key
    )
    assert other.status_code == 422
    assert outcome_code(refusal) == ("business-rule", "idempotency_key_reused")
    assert state() == before


def test_a_refusal_is_replayed_too(clinic, client_for):
    services.appointment_book(patient=PatientFactory(), slot_id=clinic.free[0].pk)
    client, key = client_for(clinic.patient_a), str(uuid.uuid4())
    body = booking(clinic.free[0].pk, clinic.patient_a.pk)
    first, refused = fhir_send(client, "post", "Appointment", body, key=key)
    replay, again = fhir_send(client, "post", "Appointment", body, key=key)
    assert (first.status_code, replay.status_code) == (409, 409)
    assert again == refused


@pytest.mark.parametrize(
    ("role", "patient", "expected"),
    [
        ("doctor", "patient_a", 403),  # clinicians do not book
        ("patient_b", "patient_a", 403),  # a patient books for themself only
        ("staff", "doctor", 404),  # the front desk books for a patient that exists
    ],
)
def test_who_may_book_for_whom(clinic, client_for, role, patient, expected):
    before = state()
    response, body = fhir_send(
        client_for(getattr(clinic, role)), "post", "Appointment",
        booking(clinic.free[0].pk, getattr(clinic, patient).pk),
    )  # fmt: skip
    assert response.status_code == expected
    assert outcome_code(body)[0] == {403: "forbidden", 404: "not-found"}[expected]
    assert state() == before


def test_an_unknown_slot_is_404(clinic, client_for):
    response, body = fhir_send(client_for(clinic.patient_a), "post", "Appointment",
                               booking(987654321, clinic.patient_a.pk))  # fmt: skip
    assert response.status_code == 404
    assert outcome_code(body) == ("not-found", "slot_not_found")


def _valid(clinic) -> dict[str, Any]:
    return booking(clinic.free[0].pk, clinic.patient_a.pk)


MALFORMED: list[tuple[str, Any, int]] = [
    ("not json", "{not json", 400),
    ("a list", [], 400),
    ("a number", 5, 400),
    ("null", None, 400),
    ("another resource type", {"resourceType": "Patient"}, 400),
    ("no status", {"status": None}, 400),
    ("status of the wrong type", {"status": 1}, 400),
    ("status proposed", {"status": "proposed"}, 422),
    ("no slot", {"slot": None}, 400),
    ("empty slot list", {"slot": []}, 400),
    ("two slots", {"slot": [{"reference": "Slot/1"}, {"reference": "Slot/2"}]}, 422),
    ("slot not a reference", {"slot": ["Slot/1"]}, 400),
    ("slot of another type", {"slot": [{"reference": "Patient/1"}]}, 400),
    ("slot id not a number", {"slot": [{"reference": "Slot/abc"}]}, 400),
    ("slot id too large", {"slot": [{"reference": "Slot/99999999999999999999"}]}, 400),
    ("no participant", {"participant": None}, 400),
    ("participant not a list", {"participant": {"actor": "x"}}, 400),
    ("participant without actor", {"participant": [{"status": "accepted"}]}, 400),
    ("a Location participant", {"participant": [{"actor": {"reference": "Location/1"}}]}, 422),
    ("no Patient participant",
     {"participant": [{"actor": {"reference": "Practitioner/1"}}]}, 400),
    ("two patients", {"participant": [{"actor": {"reference": "Patient/1"}},
                                      {"actor": {"reference": "Patient/2"}}]}, 422),
    ("start not a time", {"start": "tomorrow"}, 400),
    ("start without offset", {"start": "2030-01-01T10:00:00"}, 400),
    ("start of the wrong type", {"start": 5}, 400),
    ("reason of the wrong type", {"reasonCode": "pain"}, 400),
    ("reason too long", {"reasonCode": [{"text": "x" * 2001}]}, 400),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_bodies_are_refused_and_change_nothing(clinic, client_for, name, change,
                                                         expected):  # fmt: skip
    # a dict changes a valid booking; anything else is the whole body
    body = {**_valid(clinic), **change} if isinstance(change, dict) else change
    before = state()
    response, outcome = fhir_send(
        client_for(clinic.patient_a), "post", "Appointment", body, key=str(uuid.uuid4())
    )
    assert response.status_code == expected, outcome
    assert outcome["resourceType"] == "OperationOutcome"
    assert state() == before


def test_the_body_must_agree_with_the_slot(clinic, client_for):
    slot = clinic.free[0]
    client = client_for(clinic.patient_a)
    practitioner = {"actor": {"reference": f"Practitioner/{clinic.other.pk}"}}
    wrong = booking(slot.pk, clinic.patient_a.pk)
    wrong["participant"].append(practitioner)
    response, body = fhir_send(client, "post", "Appointment", wrong)
    assert response.status_code == 422
    assert outcome_code(body)[0] == "business-rule"
    late = booking(slot.pk, clinic.patient_a.pk, start=hours_ahead(99).isoformat())
    assert fhir_send(client, "post", "Appointment", late)[0].status_code == 422
    # the slot's own practitioner and times are accepted
    right = booking(slot.pk, clinic.patient_a.pk, start=slot.start.isoformat(),
                    end=slot.end.isoformat())  # fmt: skip
    right["participant"].append({"actor": {"reference": f"Practitioner/{clinic.doctor.pk}"}})
    assert fhir_send(client, "post", "Appointment", right)[0].status_code == 201


def test_an_unsupported_media_type_is_415(clinic, client_for):
    response = client_for(clinic.patient_a).post(
        "/fhir/R4/Appointment", data="<Appointment/>", content_type="application/fhir+xml"
    )
    assert response.status_code == 415
    assert response["Content-Type"].startswith("application/fhir+json")


# --- cancelling -------------------------------------------------------------------------

CANCEL_PATCHES = [
    ("json patch", "application/json-patch+json",
     [{"op": "replace", "path": "/status", "value": "cancelled"},
      {"op": "add", "path": "/cancelationReason", "value": {"text": "Feeling better"}}]),
    ("merge patch", "application/merge-patch+json",
     {"status": "cancelled", "cancelationReason": {"text": "Feeling better"}}),
    ("fhir json", "application/fhir+json",
     {"resourceType": "Appointment", "status": "cancelled",
      "cancelationReason": {"text": "Feeling better"}}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content_type", "patch"), CANCEL_PATCHES,
                         ids=[c[0] for c in CANCEL_PATCHES])  # fmt: skip
def test_patch_to_cancelled_cancels_through_the_service(clinic, client_for, name, content_type,
                                                        patch):  # fmt: skip
    appointment = clinic.appointment_a
    client = client_for(clinic.patient_a)
    response, body = fhir_send(client, "patch", f"Appointment/{appointment.pk}", patch,
                               content_type=content_type)  # fmt: skip
    assert response.status_code == 200, body
    assert body["status"] == "cancelled"
    assert body["cancelationReason"] == {"text": "Feeling better"}
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.cancellation_reason == "Feeling better"
    assert AuditEvent.objects.filter(action="appointment.cancel",
                                     object_id=str(appointment.pk)).exists()  # fmt: skip
    assert OutboxEvent.objects.filter(name="appointment.cancelled").exists()
    # cancelling again is a conflict with the lifecycle
    again, refusal = fhir_send(client, "patch", f"Appointment/{appointment.pk}", patch,
                               content_type=content_type)  # fmt: skip
    assert again.status_code == 409
    assert outcome_code(refusal)[0] == "conflict"


@pytest.mark.parametrize(
    ("role", "expected"), [("patient_b", 404), ("other", 404), ("doctor", 200), ("staff", 200)]
)
def test_who_may_cancel(clinic, client_for, role, expected):
    before = state()
    response, _ = fhir_send(client_for(getattr(clinic, role)), "patch",
                            f"Appointment/{clinic.appointment_a.pk}", {"status": "cancelled"},
                            content_type="application/merge-patch+json")  # fmt: skip
    assert response.status_code == expected
    if expected == 404:
        assert state() == before


UNSUPPORTED_PATCHES = [
    ("another status", {"status": "noshow"}, 422),
    ("another element", {"status": "cancelled", "start": "2030-01-01T10:00:00Z"}, 422),
    ("another id", {"id": "1", "status": "cancelled"}, 400),
    ("a remove", [{"op": "remove", "path": "/status"}], 422),
    ("another path", [{"op": "replace", "path": "/start", "value": "x"}], 422),
    ("an op without path", [{"op": "replace", "value": "cancelled"}], 400),
    ("a string", "cancelled", 400),
    ("a reason of the wrong type", {"status": "cancelled", "cancelationReason": "x"}, 400),
]  # fmt: skip


@pytest.mark.parametrize(("name", "patch", "expected"), UNSUPPORTED_PATCHES,
                         ids=[u[0] for u in UNSUPPORTED_PATCHES])  # fmt: skip
def test_other_patches_are_refused_and_change_nothing(clinic, client_for, name, patch, expected):
    before = state()
    content_type = ("application/json-patch+json" if isinstance(patch, list)
                    else "application/merge-patch+json")  # fmt: skip
    data = f'"{patch}"' if isinstance(patch, str) else patch
    response, body = fhir_send(client_for(clinic.staff), "patch",
                               f"Appointment/{clinic.appointment_a.pk}", data,
                               content_type=content_type)  # fmt: skip
    assert response.status_code == expected, body
    assert state() == before


def test_patch_of_an_unknown_appointment_is_404(clinic, client_for):
    for ref in ("987654321", "abc", "0"):
        response, body = fhir_send(client_for(clinic.staff), "patch", f"Appointment/{ref}",
                                   {"status": "cancelled"},
                                   content_type="application/merge-patch+json")  # fmt: skip
        assert response.status_code == 404
        assert outcome_code(body)[0] == "not-found"


def test_an_idempotency_key_is_the_users_own(clinic, client_for):
    # given patient A booked with a key
    key = str(uuid.uuid4())
    first, _ = fhir_send(client_for(clinic.patient_a), "post", "Appointment",
                         booking(clinic.free[0].pk, clinic.patient_a.pk), key=key)  # fmt: skip
    assert first.status_code == 201
    # when patient B sends the same key for their own booking, then it is B's booking
    body = booking(clinic.free[1].pk, clinic.patient_b.pk)
    response, created = fhir_send(
        client_for(clinic.patient_b), "post", "Appointment", body, key=key
    )
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Appointment.objects.get(pk=int(created["id"])).patient_id == clinic.patient_b.pk


def test_a_patient_past_the_cut_off_cannot_cancel(clinic, client_for):
    # given A's appointment two hours ahead (the cut-off is 24 h)
    soon = AppointmentFactory(
        patient=clinic.patient_a,
        slot=SlotFactory(clinician=clinic.doctor, start=hours_ahead(2), end=hours_ahead(2.5),
                         status="booked", seats_taken=1),
    )  # fmt: skip
    before = state()
    # when A cancels through FHIR, then 409 change_cutoff_passed and nothing changed
    response, body = fhir_send(client_for(clinic.patient_a), "patch", f"Appointment/{soon.pk}",
                               {"status": "cancelled"},
                               content_type="application/merge-patch+json")  # fmt: skip
    assert response.status_code == 409
    assert outcome_code(body) == ("conflict", "change_cutoff_passed")
    assert state() == before


def test_a_patient_cannot_hold_two_overlapping_bookings(clinic, client_for):
    # given A's appointment at 72 h and a free slot of the other clinician at the same time
    clash = SlotFactory(clinician=clinic.other, start=hours_ahead(72), end=hours_ahead(72.5))
    before = state()
    response, body = fhir_send(client_for(clinic.patient_a), "post", "Appointment",
                               booking(clash.pk, clinic.patient_a.pk))  # fmt: skip
    assert response.status_code == 409
    assert outcome_code(body) == ("conflict", "patient_overlap")
    assert state() == before


def _read(client, appointment) -> dict[str, Any]:
    response = client.get(f"/fhir/R4/Appointment/{appointment.pk}")
    assert response.status_code == 200
    return response.json()


def test_put_of_the_cancelled_resource_cancels(clinic, client_for):
    # given the appointment as A reads it, its status changed to cancelled
    client = client_for(clinic.patient_a)
    resource = _read(client, clinic.appointment_a)
    resource.update(status="cancelled", cancelationReason={"text": "Moving away"})
    resource["start"] = clinic.appointment_a.start.isoformat().replace("+00:00", "Z")
    # when A PUTs it back, then it is cancelled through the service
    response, body = fhir_send(client, "put", f"Appointment/{clinic.appointment_a.pk}",
                               resource)  # fmt: skip
    assert response.status_code == 200, body
    assert (body["status"], body["cancelationReason"]) == ("cancelled", {"text": "Moving away"})
    clinic.appointment_a.refresh_from_db()
    assert clinic.appointment_a.status == Appointment.Status.CANCELLED
    assert AuditEvent.objects.filter(action="appointment.cancel").exists()


PUT_CHANGES = [
    ("status booked", {"status": "booked"}, 422),
    ("another slot", {"slot": [{"reference": "Slot/1"}]}, 422),
    ("another start", {"start": "2031-01-01T10:00:00Z"}, 422),
    ("another patient", {"participant": [{"actor": {"reference": "Patient/1"}}]}, 422),
    ("another id", {"id": "1"}, 400),
    ("participant not a list", {"participant": "x"}, 400),
    ("participant without actor", {"participant": [{}]}, 400),
    ("a reason of the wrong type", {"cancelationReason": {"text": 5}}, 400),
    ("another resource type", {"resourceType": "Slot"}, 400),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "expected"), PUT_CHANGES,
                         ids=[c[0] for c in PUT_CHANGES])  # fmt: skip
def test_a_put_that_changes_more_is_refused(clinic, client_for, name, change, expected):
    client = client_for(clinic.staff)
    resource = {**_read(client, clinic.appointment_a), "status": "cancelled", **change}
    before = state()
    response, body = fhir_send(client, "put", f"Appointment/{clinic.appointment_a.pk}",
                               resource)  # fmt: skip
    assert response.status_code == expected, body
    assert body["resourceType"] == "OperationOutcome"
    assert state() == before


def test_a_put_of_another_patients_appointment_is_404(clinic, client_for):
    resource = {**_read(client_for(clinic.staff), clinic.appointment_a), "status": "cancelled"}
    before = state()
    response, _ = fhir_send(client_for(clinic.patient_b), "put",
                            f"Appointment/{clinic.appointment_a.pk}", resource)  # fmt: skip
    assert response.status_code == 404
    assert state() == before
