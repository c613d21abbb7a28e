"""scheduling.lifecycle: the one table of what may follow what, who may do it and when,
and the services refusing exactly what it does not offer."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest
from django.db import transaction
from django.utils import timezone

from core.errors import DomainError, RoleNotAllowed
from scheduling import services
from scheduling.errors import (
    AppointmentNotStarted,
    ChangeCutoffPassed,
    InvalidTransition,
)
from scheduling.lifecycle import (
    TRANSITIONS,
    appointment_transition_check,
    appointment_transitions_allowed,
)
from scheduling.models import Appointment, Slot
from tests.factories import AppointmentFactory, SlotFactory, StaffFactory
from tests.scheduling.conftest import hours_from_now

Status = Appointment.Status


def _appointment(*, hours: float, status: str = Status.SCHEDULED) -> Appointment:
    start = hours_from_now(hours)
    slot = SlotFactory(start=start, end=start + timedelta(minutes=30), status=Slot.Status.BOOKED)
    return cast(Appointment, AppointmentFactory(slot=slot, status=status))


def test_every_status_has_a_row_and_the_outcomes_are_final():
    assert set(TRANSITIONS) == set(Status.values)
    for targets in TRANSITIONS.values():
        assert targets <= set(Status.values)
    for final in (Status.COMPLETED, Status.CANCELLED, Status.NO_SHOW):
        assert not TRANSITIONS[final]


@pytest.mark.django_db
def test_a_future_visit_offers_no_outcome_to_its_clinician():
    # given an appointment three days ahead
    appointment = _appointment(hours=72)

    # when its clinician asks what may happen next
    allowed = appointment_transitions_allowed(
        appointment, actor=appointment.clinician, now=timezone.now()
    )

    # then it may be confirmed, cancelled or rescheduled, not completed or a no-show
    assert allowed == [Status.CANCELLED, Status.CONFIRMED, Status.SCHEDULED]


@pytest.mark.django_db
def test_a_started_visit_offers_its_outcomes_to_clinician_and_staff():
    appointment = _appointment(hours=-1)
    expected = [
        Status.CANCELLED,
        Status.COMPLETED,
        Status.CONFIRMED,
        Status.NO_SHOW,
        Status.SCHEDULED,
    ]

    for actor in (appointment.clinician, StaffFactory()):
        assert appointment_transitions_allowed(appointment, actor=actor, now=timezone.now()) == (
            expected
        )


@pytest.mark.django_db
def test_a_patient_may_cancel_or_reschedule_only_before_the_cutoff(settings):
    settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS = 24
    early, late = _appointment(hours=72), _appointment(hours=12)
    now = timezone.now()

    assert appointment_transitions_allowed(early, actor=early.patient, now=now) == [
        Status.CANCELLED,
        Status.SCHEDULED,
    ]
    assert appointment_transitions_allowed(late, actor=late.patient, now=now) == []


@pytest.mark.django_db
def test_the_check_raises_the_services_errors():
    future = _appointment(hours=72)
    done = _appointment(hours=-1, status=Status.COMPLETED)
    now = timezone.now()

    with pytest.raises(RoleNotAllowed) as role:
        appointment_transition_check(future, Status.CONFIRMED, actor=future.patient, now=now)
    with pytest.raises(AppointmentNotStarted) as not_started:
        appointment_transition_check(future, Status.COMPLETED, actor=future.clinician, now=now)
    with pytest.raises(InvalidTransition) as invalid:
        appointment_transition_check(done, Status.CANCELLED, actor=done.clinician, now=now)

    assert role.value.details == {"allowed_roles": ["doctor", "psychologist", "staff"]}
    assert role.value.status == 403
    assert not_started.value.status == 409
    assert invalid.value.details == {"from": "completed", "to": "cancelled", "allowed": []}
    assert invalid.value.status == 409


@pytest.mark.django_db
def test_the_patients_cutoff_names_the_latest_change(settings):
    settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS = 24
    appointment = _appointment(hours=12)

    with pytest.raises(ChangeCutoffPassed) as refused:
        appointment_transition_check(
            appointment, Status.CANCELLED, actor=appointment.patient, now=timezone.now()
        )

    latest = appointment.start - timedelta(hours=24)
    assert refused.value.details == {
        "cutoff_hours": 24,
        "latest_change_at": latest.isoformat().replace("+00:00", "Z"),
    }


def _apply(target: str, appointment: Appointment, actor) -> None:
    """Ask the service that makes this transition."""
    ident = {"actor": actor, "appointment_id": appointment.pk}
    if target == Status.SCHEDULED:
        start = hours_from_now(24 * 7)
        slot = cast(
            Slot,
            SlotFactory(
                clinician=appointment.clinician, start=start, end=start + timedelta(minutes=30)
            ),
        )
        services.appointment_reschedule(**ident, new_slot_id=slot.pk)
    elif target == Status.CONFIRMED:
        services.appointment_confirm(**ident)
    elif target == Status.CANCELLED:
        services.appointment_cancel(**ident)
    elif target == Status.COMPLETED:
        services.appointment_complete(**ident)
    else:
        services.appointment_mark_no_show(**ident)


def _refusal(target: str, appointment: Appointment, actor) -> DomainError | None:
    """The service's answer to this transition (rolled back): its error, or None."""
    try:
        with transaction.atomic():
            _apply(target, appointment, actor)
            transaction.set_rollback(True)
    except DomainError as refusal:
        return refusal
    return None


ACTORS = ("patient", "clinician", "staff")


@pytest.mark.django_db
@pytest.mark.parametrize("status", Status.values)
@pytest.mark.parametrize("hours", [-2, 12, 72])
@pytest.mark.parametrize("who", ACTORS)
def test_the_services_accept_exactly_what_the_lifecycle_offers(status, hours, who, settings):
    settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS = 24
    # given an appointment in some status, some hours from now, and one who can see it
    appointment = _appointment(hours=hours, status=status)
    actor = StaffFactory() if who == "staff" else getattr(appointment, who)
    offered = appointment_transitions_allowed(appointment, actor=actor, now=timezone.now())

    for target in Status.values:
        # when the service is asked to make the transition
        refusal = _refusal(target, appointment, actor)

        # then it accepts exactly what is offered, and refuses with the check's error
        assert (refusal is None) == (target in offered), (target, refusal)
        if refusal is not None:
            with pytest.raises(type(refusal)):
                appointment_transition_check(appointment, target, actor=actor, now=timezone.now())
