"""Every lifecycle transition, allowed and refused, generated from the table itself."""

from __future__ import annotations

import itertools

import pytest

from audit.models import AuditEvent
from consultations.lifecycle import TRANSITIONS, Status, allowed_from, is_allowed
from consultations.models import Consultation
from core.models import OutboxEvent
from tests.clinical_world import db_state
from tests.factories import ConsultationFactory, DoctorFactory, PatientFactory, appointment_for

pytestmark = pytest.mark.django_db

# The appointment status each consultation status is stored as (lifecycle.py).
APPOINTMENT_STATUS = {
    Status.SCHEDULED: "scheduled",
    Status.IN_PROGRESS: "scheduled",
    Status.COMPLETED: "completed",
    Status.CANCELLED: "cancelled",
    Status.NO_SHOW: "no_show",
}

ALL_PAIRS = list(itertools.product(Status.ALL, Status.ALL))
ALLOWED = [pair for pair in ALL_PAIRS if is_allowed(*pair)]
REFUSED = [pair for pair in ALL_PAIRS if not is_allowed(*pair)]


def consultation_in(status: str, doctor) -> Consultation:
    """A consultation of ``doctor`` in ``status``, its appointment started an hour ago."""
    appointment = appointment_for(
        doctor, PatientFactory(), hours=-1, status=APPOINTMENT_STATUS[status]
    )
    started = status in (Status.IN_PROGRESS, Status.COMPLETED)
    consultation = ConsultationFactory.create(appointment=appointment)
    if started:
        consultation.started_at = appointment.start
    if status == Status.COMPLETED:
        consultation.completed_at = appointment.end
    consultation.save()
    assert consultation.status == status
    return consultation


def test_the_table_covers_every_status_and_only_known_ones():
    assert set(TRANSITIONS) == set(Status.ALL)
    for targets in TRANSITIONS.values():
        assert targets <= set(Status.ALL)
    # completed and the other outcomes are final
    assert not TRANSITIONS[Status.COMPLETED]
    assert ALLOWED, "the table allows nothing"


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transition_moves_consultation_and_appointment(client_for, current, target):
    # given the appointment's clinician and a consultation in ``current``
    doctor = DoctorFactory()
    consultation = consultation_in(current, doctor)
    # when they move it to ``target``
    response = client_for(doctor).patch(
        f"/api/v1/consultations/{consultation.pk}/status/", {"status": target}, format="json"
    )
    # then it moved, the appointment agrees, and the change is audited and published
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == target
    assert response.json()["allowed_transitions"] == allowed_from(target)
    consultation = Consultation.objects.select_related("appointment").get(pk=consultation.pk)
    assert consultation.status == target
    assert consultation.appointment.status == APPOINTMENT_STATUS[target]
    audit = AuditEvent.objects.get(action="consultation.status_change")
    assert audit.actor_id == doctor.pk
    assert audit.object_id == str(consultation.pk)
    assert audit.changes == {"status": {"before": current, "after": target}}
    event = OutboxEvent.objects.get(name="consultation.status_changed")
    assert event.payload["from"] == current
    assert event.payload["to"] == target
    assert event.payload["consultation_id"] == consultation.pk


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_transition_is_409_naming_the_allowed_ones(client_for, current, target):
    # given the appointment's clinician and a consultation in ``current``
    doctor = DoctorFactory()
    consultation = consultation_in(current, doctor)
    before = db_state()
    # when they ask for a move the table does not have
    response = client_for(doctor).patch(
        f"/api/v1/consultations/{consultation.pk}/status/", {"status": target}, format="json"
    )
    # then 409 invalid_transition lists what is allowed, and nothing changed
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert error["details"] == {"from": current, "to": target, "allowed": allowed_from(current)}
    assert db_state() == before


@pytest.mark.parametrize("target", Status.ALL)
def test_only_the_appointments_clinician_moves_it(client_for, world, target):
    # given a scheduled consultation of ``doctor`` with patient A
    consultation = world.open_consultation
    before = db_state()
    # then the psychologist who also treats A: 403; an unrelated doctor: 404;
    # the patient: 403 (patients cancel through the appointment); staff: 403
    expectations = [
        (world.psychologist, 403),
        (world.other_doctor, 404),
        (world.patient_a, 403),
        (world.staff, 403),
    ]
    for user, expected in expectations:
        response = client_for(user).patch(
            f"/api/v1/consultations/{consultation.pk}/status/", {"status": target}, format="json"
        )
        assert response.status_code == expected, (user.role, response.json())
    assert db_state() == before


def test_cancelling_through_the_appointment_shows_as_cancelled_consultation(world):
    # given a scheduled consultation whose appointment the patient then cancels
    from scheduling.services import appointment_cancel

    consultation = world.open_consultation
    appointment_cancel(actor=world.patient_a, appointment_id=consultation.appointment_id)
    # then the consultation's one status is cancelled, with no second write to drift
    consultation.refresh_from_db()
    consultation.appointment.refresh_from_db()
    assert consultation.status == Status.CANCELLED
    assert Consultation.objects.filter(pk=consultation.pk).get().status == Status.CANCELLED
