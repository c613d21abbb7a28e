"""Property: what the lifecycles offer is exactly what the services accept.

The appointment half (below the consultation half) asks scheduling's lifecycle and
services the same way.

Over random states, visit times (past or future) and actors, every transition that
``consultation_transitions_allowed`` offers is accepted by the consultation service, and
every one the service refuses is not offered, refused for the reason
``consultation_transition_check`` gives (a record the actor cannot see is a 404 the
selectors decide before the lifecycle is asked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import User
from consultations.lifecycle import (
    Status,
    consultation_transition_check,
    consultation_transitions_allowed,
)
from consultations.models import Consultation
from consultations.services import consultation_status_change
from core.errors import DomainError
from scheduling.lifecycle import appointment_transition_check, appointment_transitions_allowed
from scheduling.models import Appointment, Slot
from scheduling.services import (
    appointment_cancel,
    appointment_complete,
    appointment_confirm,
    appointment_mark_no_show,
    appointment_reschedule,
)
from tests.factories import (
    AppointmentFactory,
    ConsultationFactory,
    DoctorFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
    appointment_for,
)

pytestmark = pytest.mark.django_db

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# The appointment statuses each consultation status can be stored with (lifecycle.py).
APPOINTMENT_STATUSES = {
    Status.SCHEDULED: ["scheduled", "confirmed"],
    Status.IN_PROGRESS: ["scheduled", "confirmed"],
    Status.COMPLETED: ["completed"],
    Status.CANCELLED: ["cancelled"],
    Status.NO_SHOW: ["no_show"],
}
ACTORS = ["clinician", "inactive_clinician", "colleague", "stranger", "patient", "staff"]
NOT_SEEN = "consultation_not_found"

# Minutes from now to the visit's start: never within a few minutes of now, so the
# clock moving between the question and the service call cannot change the answer.
visit_minutes = st.integers(min_value=5, max_value=5 * 24 * 60).flatmap(
    lambda m: st.sampled_from([m, -m])
)


@dataclass(frozen=True)
class State:
    status: str
    appointment_status: str
    minutes: int  # from now to the visit's start
    psychologist: bool  # the appointment's clinician
    actor: str


@dataclass
class Case:
    consultation: Consultation
    actor: User


@st.composite
def states(draw: st.DrawFn) -> State:
    status = draw(st.sampled_from(Status.ALL))
    return State(
        status=status,
        appointment_status=draw(st.sampled_from(APPOINTMENT_STATUSES[status])),
        minutes=draw(visit_minutes),
        psychologist=draw(st.booleans()),
        actor=draw(st.sampled_from(ACTORS)),
    )


def build(state: State) -> Case:
    """A consultation in ``state``, loaded as the API loads it, and the actor."""
    clinician = PsychologistFactory() if state.psychologist else DoctorFactory()
    patient = PatientFactory()
    appointment = appointment_for(
        clinician, patient, hours=state.minutes / 60, status=state.appointment_status
    )
    started = state.status in (Status.IN_PROGRESS, Status.COMPLETED)
    created = ConsultationFactory.create(
        appointment=appointment,
        started_at=appointment.start if started else None,
        completed_at=appointment.end if state.status == Status.COMPLETED else None,
    )
    consultation = Consultation.objects.select_related("appointment").get(pk=created.pk)
    assert consultation.status == state.status
    return Case(consultation=consultation, actor=_actor(state.actor, clinician, patient))


def _actor(kind, clinician, patient):
    if kind == "clinician":
        return clinician
    if kind == "inactive_clinician":
        clinician.is_active = False
        clinician.save(update_fields=["is_active"])
        return clinician
    if kind == "colleague":  # also treats the patient: sees the record, is not its clinician
        colleague = DoctorFactory()
        appointment_for(colleague, patient, hours=24 * 30)
        return colleague
    if kind == "stranger":
        return DoctorFactory()
    if kind == "patient":
        return patient
    return StaffFactory()


def _refusal_code(call: Callable[..., object], *args: object, **kwargs: object) -> str | None:
    try:
        call(*args, **kwargs)
    except DomainError as refusal:
        return refusal.code
    return None


# The visits the old allowed_transitions got wrong (an outcome offered before the start).
FUTURE_VISIT = [
    State(Status.IN_PROGRESS, "scheduled", 120, False, "clinician"),
    State(Status.SCHEDULED, "confirmed", 120, True, "clinician"),
]


@PROPERTY
@given(state=states())
@example(state=FUTURE_VISIT[0])
@example(state=FUTURE_VISIT[1])
def test_consultation_transitions_offered_are_exactly_those_accepted(state):
    for target in Status.ALL:
        # given a consultation in a random state, its visit past or future, and an actor
        case = build(state)
        now = timezone.now()
        # when the lifecycle is asked, then the service is asked to make the move
        offered = consultation_transitions_allowed(case.consultation, actor=case.actor, now=now)
        predicted = _refusal_code(
            consultation_transition_check, case.consultation, target, actor=case.actor, now=now
        )
        outcome = _refusal_code(
            consultation_status_change,
            actor=case.actor,
            consultation_id=case.consultation.pk,
            status=target,
            reason="x",
        )
        # then an offered move is accepted, a refused one was not offered, for one reason
        assert (target in offered) == (outcome is None), (state, target, offered, outcome)
        assert (predicted is None) == (outcome is None), (state, target, predicted, outcome)
        if outcome != NOT_SEEN:
            assert predicted == outcome, (state, target)


# --- the appointment half ----------------------------------------------------------------

APPOINTMENT_ACTORS = ["clinician", "inactive_clinician", "patient", "staff"]
APPOINTMENT_NOT_SEEN = "appointment_not_found"


@dataclass(frozen=True)
class AppointmentState:
    status: str
    minutes: int  # from now to the visit's start
    psychologist: bool
    actor: str


@st.composite
def appointment_states(draw: st.DrawFn) -> AppointmentState:
    return AppointmentState(
        status=draw(st.sampled_from(Appointment.Status.values)),
        minutes=draw(visit_minutes),
        psychologist=draw(st.booleans()),
        actor=draw(st.sampled_from(APPOINTMENT_ACTORS)),
    )


def _appointment_in(state: AppointmentState) -> tuple[Appointment, User]:
    """An appointment exactly ``state.minutes`` from now (the time rules' edges matter
    here: no whole-day spread), with fresh people, and the actor."""
    clinician = PsychologistFactory() if state.psychologist else DoctorFactory()
    patient = PatientFactory()
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=state.minutes)
    slot = SlotFactory(clinician=clinician, start=start, end=start + timedelta(minutes=30))
    appointment = AppointmentFactory(slot=slot, patient=patient, status=state.status)
    return cast(Appointment, appointment), _actor(state.actor, clinician, patient)


def _reschedule(*, actor: User, appointment_id: int) -> object:
    """Reschedule to a fresh open slot of the same clinician, clear of the old one."""
    appointment = Appointment.objects.get(pk=appointment_id)
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    if abs(start - appointment.start) < timedelta(hours=1):
        start += timedelta(hours=2)
    slot = cast(
        Slot,
        SlotFactory(
            clinician=appointment.clinician, start=start, end=start + timedelta(minutes=30)
        ),
    )
    return appointment_reschedule(actor=actor, appointment_id=appointment_id, new_slot_id=slot.pk)


# The service that moves an appointment to each status.
APPOINTMENT_MOVES: dict[str, Callable[..., object]] = {
    Appointment.Status.SCHEDULED: _reschedule,
    Appointment.Status.CONFIRMED: appointment_confirm,
    Appointment.Status.CANCELLED: appointment_cancel,
    Appointment.Status.COMPLETED: appointment_complete,
    Appointment.Status.NO_SHOW: appointment_mark_no_show,
}


@PROPERTY
@given(state=appointment_states())
@example(state=AppointmentState("scheduled", 120, False, "clinician"))  # outcome before start
@example(state=AppointmentState("confirmed", 600, False, "patient"))  # inside the cut-off
def test_appointment_transitions_offered_are_exactly_those_accepted(state):
    for target in Appointment.Status.values:
        # given an appointment in a random status, its visit past or future, and an actor
        appointment, actor = _appointment_in(state)
        now = timezone.now()
        # when the lifecycle is asked, then the service is asked to make the move
        offered = appointment_transitions_allowed(appointment, actor=actor, now=now)
        predicted = _refusal_code(
            appointment_transition_check, appointment, target, actor=actor, now=now
        )
        outcome = _refusal_code(
            APPOINTMENT_MOVES[target], actor=actor, appointment_id=appointment.pk
        )
        # then an offered move is accepted, a refused one was not offered, for one reason
        assert (target in offered) == (outcome is None), (state, target, offered, outcome)
        assert (predicted is None) == (outcome is None), (state, target, predicted, outcome)
        if outcome != APPOINTMENT_NOT_SEEN:
            assert predicted == outcome, (state, target)
