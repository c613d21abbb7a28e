"""The consultation lifecycle: ONE table, the single source of truth for transitions.

Written by hand (SPEC/STYLE: no FSM library). Services check moves against
``TRANSITIONS``; the API's 409 names ``allowed_from(status)``; the tests iterate this
table, so the table, the code and the tests cannot disagree.

Where each status lives (no second status that can drift):

* ``scheduled`` and ``in_progress`` are the consultation's own phase
  (``Consultation.started_at`` unset / set) while the appointment is active;
* ``completed``, ``cancelled`` and ``no_show`` are the *appointment's* status, written
  by scheduling's services, which the consultation service calls in its transaction.

``consultation_status`` derives the one status from those two facts, and
``status_expression`` does the same in SQL for filtering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Case, CharField, Q, Value, When

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
