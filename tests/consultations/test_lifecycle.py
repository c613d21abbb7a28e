"""Every lifecycle transition, allowed and refused, generated from the table itself."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consultations.lifecycle import (
    TRANSITIONS,
    Status,
    allowed_from,
    consultation_is_editable,
    is_allowed,
    may_prescribe,
)
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


def test_a_future_visit_does_not_offer_the_outcomes_the_service_refuses(client_for):
    # given a consultation started before its visit, which is two hours away
    doctor = DoctorFactory()
    appointment = appointment_for(doctor, PatientFactory(), hours=2)
    consultation = ConsultationFactory.create(appointment=appointment, started_at=timezone.now())
    # when its clinician reads it
    response = client_for(doctor).get(f"/api/v1/consultations/{consultation.pk}/")
    # then completing is not offered, and asking for it anyway is the 409 that says why
    assert response.json()["allowed_transitions"] == []
    refused = client_for(doctor).patch(
        f"/api/v1/consultations/{consultation.pk}/status/", {"status": "completed"}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "appointment_not_started"


def test_a_scheduled_future_visit_offers_starting_and_cancelling_only(client_for):
    # given a scheduled consultation whose visit is tomorrow
    doctor = DoctorFactory()
    consultation = ConsultationFactory.create(
        appointment=appointment_for(doctor, PatientFactory(), hours=24)
    )
    # when its clinician reads it, then a no-show (an outcome of a started visit) is not offered
    response = client_for(doctor).get(f"/api/v1/consultations/{consultation.pk}/")
    assert response.json()["allowed_transitions"] == [Status.CANCELLED, Status.IN_PROGRESS]


@pytest.mark.parametrize(
    ("status", "editable"),
    [
        (Status.SCHEDULED, True),
        (Status.IN_PROGRESS, True),
        (Status.COMPLETED, False),
        (Status.CANCELLED, False),
        (Status.NO_SHOW, False),
    ],
)
def test_notes_are_editable_only_while_open(status, editable):
    # given a consultation in ``status``, then it is editable exactly while open
    assert consultation_is_editable(consultation_in(status, DoctorFactory())) is editable


def test_only_the_doctor_of_a_completed_consultation_may_prescribe(world):
    # given patient A's completed consultation with ``doctor`` and an open one
    completed, open_one = world.done_consultation, world.open_consultation
    # then its doctor may prescribe on it; nobody else, and not on an open one
    assert may_prescribe(world.doctor, completed) is True
    assert may_prescribe(world.doctor, open_one) is False
    for other in (world.psychologist, world.other_doctor, world.patient_a, world.staff):
        assert may_prescribe(other, completed) is False
    world.doctor.is_active = False
    assert may_prescribe(world.doctor, completed) is False
