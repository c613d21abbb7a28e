"""The appointment lifecycle: what may happen next to an appointment, who may do it, and
when. The one source of these rules (SPEC invariant 3).

Written by hand (STYLE: no FSM library): the tables are the rule. The services call
``appointment_transition_check`` before they change a status; whatever offers actions
(the dashboard's buttons, the consultation API's ``allowed_transitions``) calls
``appointment_transitions_allowed``. Both ask ``_refusal``, so what is offered is
exactly what is accepted.

Both assume the actor can see the appointment: a record one cannot see is a 404,
decided by ``selectors.appointments_visible_to`` before this module is asked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings

from accounts.models import CLINICIAN_ROLES, Role, User
from accounts.permissions import has_active_role
from core.errors import DomainError, RoleNotAllowed
from core.serialization import api_datetime
from scheduling.errors import (
    AppointmentNotStarted,
    ChangeCutoffPassed,
    InvalidTransition,
)
from scheduling.models import Appointment

Status = Appointment.Status

# scheduled → scheduled is a reschedule; a confirmed appointment that moves to a new
# time goes back to scheduled so the clinician confirms the new time.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SCHEDULED: frozenset(
        {Status.SCHEDULED, Status.CONFIRMED, Status.CANCELLED, Status.COMPLETED, Status.NO_SHOW}
    ),
    Status.CONFIRMED: frozenset(
        {Status.SCHEDULED, Status.CANCELLED, Status.COMPLETED, Status.NO_SHOW}
    ),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.NO_SHOW: frozenset(),
}

_CLINICIANS_AND_STAFF = (*CLINICIAN_ROLES, Role.STAFF)
_EVERYONE = (Role.PATIENT, *CLINICIAN_ROLES, Role.STAFF)

# Who may move an appointment to each status (among those who can see it).
ROLES_FOR: dict[str, tuple[str, ...]] = {
    Status.SCHEDULED: _EVERYONE,
    Status.CONFIRMED: _CLINICIANS_AND_STAFF,
    Status.CANCELLED: _EVERYONE,
    Status.COMPLETED: _CLINICIANS_AND_STAFF,
    Status.NO_SHOW: _CLINICIANS_AND_STAFF,
}

# Outcomes of a visit: recorded only once it has started.
NEEDS_STARTED = frozenset({Status.COMPLETED, Status.NO_SHOW})

# Changes a patient may make only up to SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS before
# the start (staff and clinicians at any time).
PATIENT_CUTOFF_APPLIES = frozenset({Status.SCHEDULED, Status.CANCELLED})


def appointment_transitions_allowed(
    appointment: Appointment, *, actor: User, now: datetime
) -> list[str]:
    """The statuses ``actor`` may move ``appointment`` to at ``now``, sorted."""
    return [
        target
        for target in sorted(TRANSITIONS.get(appointment.status, frozenset()))
        if _refusal(appointment, target, actor=actor, now=now) is None
    ]


def appointment_transition_check(
    appointment: Appointment, target: str, *, actor: User, now: datetime
) -> None:
    """Raise the domain error that refuses this move, if any."""
    refusal = _refusal(appointment, target, actor=actor, now=now)
    if refusal is not None:
        raise refusal


def role_check(target: str, *, actor: User) -> None:
    """The role half of the check alone, for services that answer 403 before 404."""
    refusal = _role_refusal(target, actor)
    if refusal is not None:
        raise refusal


def _refusal(
    appointment: Appointment, target: str, *, actor: User, now: datetime
) -> DomainError | None:
    """Why ``actor`` may not move ``appointment`` to ``target`` at ``now``, or None.

    The order is the services' order of refusal: role, table, then the time rules.
    """
    return (
        _role_refusal(target, actor)
        or _table_refusal(appointment.status, target)
        or _time_refusal(appointment, target, actor=actor, now=now)
    )


def _role_refusal(target: str, actor: User) -> DomainError | None:
    roles = ROLES_FOR.get(target)
    if roles is None or has_active_role(actor, *roles):
        return None
    return RoleNotAllowed(details={"allowed_roles": list(roles)})


def _table_refusal(current: str, target: str) -> DomainError | None:
    allowed = TRANSITIONS.get(current, frozenset())
    if target in allowed:
        return None
    return InvalidTransition(
        f"An appointment cannot go from {current} to {target}.",
        details={"from": current, "to": target, "allowed": sorted(allowed)},
    )


def _time_refusal(
    appointment: Appointment, target: str, *, actor: User, now: datetime
) -> DomainError | None:
    if target in NEEDS_STARTED and appointment.start > now:
        return AppointmentNotStarted(details={"start": api_datetime(appointment.start, UTC)})
    if target in PATIENT_CUTOFF_APPLIES and actor.role == Role.PATIENT:
        hours = settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS
        cutoff = timedelta(hours=hours)
        if appointment.start - now < cutoff:
            return ChangeCutoffPassed(
                details={
                    "cutoff_hours": hours,
                    "latest_change_at": api_datetime(appointment.start - cutoff, UTC),
                }
            )
    return None
