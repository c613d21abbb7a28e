"""The consultation lifecycle: ONE table, the single source of truth for transitions.

Written by hand (SPEC/STYLE: no FSM library). The one source of what may happen next to
a consultation, who may do it and when: the service calls
``consultation_transition_check`` before it moves a consultation; whatever offers moves
(the API's ``allowed_transitions``, the dashboard's buttons) calls
``consultation_transitions_allowed``. Both ask ``_refusal``, so what is offered is exactly
what is accepted. An outcome (completed, no-show, cancelled) is also an appointment move,
so its time rules are scheduling's (``scheduling.lifecycle``), asked here, not repeated.

Where each status lives (no second status that can drift):

* ``scheduled`` and ``in_progress`` are the consultation's own phase
  (``Consultation.started_at`` unset / set) while the appointment is active;
* ``completed``, ``cancelled`` and ``no_show`` are the *appointment's* status, written
  by scheduling's services, which the consultation service calls in its transaction.

``consultation_status`` derives the one status from those two facts, and
``status_expression`` does the same in SQL for filtering.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Case, CharField, Q, Value, When

from accounts.models import Role, User
from accounts.permissions import is_record_clinician
from consultations.errors import InvalidTransition, NotConsultationClinician
from core.errors import DomainError, RoleNotAllowed
from scheduling.lifecycle import appointment_transition_check

if TYPE_CHECKING:
    from consultations.models import Consultation


class Status:
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"

    ALL = (SCHEDULED, IN_PROGRESS, COMPLETED, CANCELLED, NO_SHOW)


TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SCHEDULED: frozenset({Status.IN_PROGRESS, Status.CANCELLED, Status.NO_SHOW}),
    Status.IN_PROGRESS: frozenset({Status.COMPLETED}),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.NO_SHOW: frozenset(),
}

# Notes can be written only while the consultation is open; completed is immutable.
NOTES_EDITABLE_IN = frozenset({Status.SCHEDULED, Status.IN_PROGRESS})

# The appointment statuses that *are* a consultation status (terminal ones).
APPOINTMENT_TERMINAL = {
    "completed": Status.COMPLETED,
    "cancelled": Status.CANCELLED,
    "no_show": Status.NO_SHOW,
}


# The appointment move that records each outcome (the inverse of APPOINTMENT_TERMINAL).
APPOINTMENT_MOVE = {status: move for move, status in APPOINTMENT_TERMINAL.items()}

# A prescription is written on a completed consultation, by its clinician, a doctor.
PRESCRIBABLE_IN = Status.COMPLETED


def allowed_from(status: str) -> list[str]:
    return sorted(TRANSITIONS.get(status, frozenset()))


def is_allowed(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def derive_status(*, appointment_status: str, started: bool) -> str:
    terminal = APPOINTMENT_TERMINAL.get(appointment_status)
    if terminal is not None:
        return terminal
    return Status.IN_PROGRESS if started else Status.SCHEDULED


def consultation_status(consultation: Consultation) -> str:
    return derive_status(
        appointment_status=consultation.appointment.status,
        started=consultation.started_at is not None,
    )


def status_expression() -> Case:
    """``derive_status`` in SQL, for ``annotate(status=...)`` and filters."""
    whens = [
        When(appointment__status=appointment_status, then=Value(status))
        for appointment_status, status in APPOINTMENT_TERMINAL.items()
    ]
    whens.append(When(Q(started_at__isnull=False), then=Value(Status.IN_PROGRESS)))
    return Case(*whens, default=Value(Status.SCHEDULED), output_field=CharField())


# --- what may happen next, for whom, when -------------------------------------------------


def consultation_transitions_allowed(
    consultation: Consultation, *, actor: User, now: datetime
) -> list[str]:
    """The statuses ``actor`` may move ``consultation`` to at ``now``, sorted."""
    return [
        target
        for target in allowed_from(consultation.status)
        if _refusal(consultation, target, actor=actor, now=now) is None
    ]


def consultation_transition_check(
    consultation: Consultation, target: str, *, actor: User, now: datetime
) -> None:
    """Raise the domain error that refuses this move, if any."""
    _raise(_refusal(consultation, target, actor=actor, now=now))


def consultation_is_editable(consultation: Consultation) -> bool:
    """Notes change only while the consultation is open; completed is immutable."""
    return consultation.status in NOTES_EDITABLE_IN


def may_prescribe(user: Any, consultation: Consultation) -> bool:
    return (
        is_prescriber(user)
        and consultation.appointment.clinician_id == user.pk
        and consultation.status == PRESCRIBABLE_IN
    )


def is_prescriber(user: Any) -> bool:
    """Doctors prescribe; psychologists, staff and patients never do."""
    return isinstance(user, User) and user.is_active and user.role == Role.DOCTOR


def clinician_role_check(actor: Any) -> None:
    """Only clinicians change consultations (checked before the record is looked up)."""
    _raise(_role_refusal(actor))


def own_consultation_check(consultation: Consultation, actor: User) -> None:
    """Only the appointment's clinician changes the consultation."""
    _raise(_clinician_refusal(consultation, actor))


def _raise(refusal: DomainError | None) -> None:
    if refusal is not None:
        raise refusal


def _refusal(
    consultation: Consultation, target: str, *, actor: User, now: datetime
) -> DomainError | None:
    """Why ``actor`` may not move ``consultation`` to ``target`` at ``now``, or None.

    The order is the service's order of refusal: role, clinician, table, then the
    appointment's own rules (its time rules) for a move that is an outcome.
    """
    return (
        _role_refusal(actor)
        or _clinician_refusal(consultation, actor)
        or _table_refusal(consultation.status, target)
        or _appointment_refusal(consultation, target, actor=actor, now=now)
    )


def _role_refusal(actor: Any) -> DomainError | None:
    if is_record_clinician(actor):
        return None
    return RoleNotAllowed(details={"allowed_roles": [Role.DOCTOR, Role.PSYCHOLOGIST]})


def _clinician_refusal(consultation: Consultation, actor: User) -> DomainError | None:
    if consultation.appointment.clinician_id == actor.pk:
        return None
    return NotConsultationClinician()


def _table_refusal(current: str, target: str) -> DomainError | None:
    if is_allowed(current, target):
        return None
    allowed = allowed_from(current)
    return InvalidTransition(
        f"A consultation cannot go from {current} to {target}; "
        + (f"allowed: {', '.join(allowed)}." if allowed else f"{current} is final."),
        details={"from": current, "to": target, "allowed": allowed},
    )


def _appointment_refusal(
    consultation: Consultation, target: str, *, actor: User, now: datetime
) -> DomainError | None:
    move = APPOINTMENT_MOVE.get(target)
    if move is None:
        return None
    try:
        appointment_transition_check(consultation.appointment, move, actor=actor, now=now)
    except DomainError as refusal:
        return refusal
    return None
