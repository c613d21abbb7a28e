"""The day's agenda and its one-click lifecycle buttons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from consultations.models import Consultation
from consultations.services import (
    consultation_ensure_for_appointment,
    consultation_status_change,
)
from core.errors import DomainError
from dashboard import selectors
from dashboard.access import clinician_required, not_found_page
from dashboard.views._common import ACTION_STATUS, Move, clinician_of, moves_allowed, parse_day
from scheduling.models import Appointment, Slot
from scheduling.selectors import appointment_get_for


@dataclass
class AgendaRow:
    appointment: Appointment
    consultation: Consultation  # unsaved while its appointment.scheduled event is queued
    actions: list[Move]  # the buttons the consultation lifecycle allows now
    error: str = ""
    announce: bool = False  # the answer to an htmx action: move focus, read the change out
    # On the first attendee of a group session: the session's slot, for a heading row
    # with its seats (the attendees follow it, ordered by start like every row).
    group: Slot | None = None

    @property
    def status(self) -> str:
        return self.consultation.status

    @property
    def label(self) -> str:
        return self.status.replace("_", " ").capitalize()


def _agenda_row(appointment: Appointment, *, actor: User, error: str = "") -> AgendaRow:
    # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
    # Without its row yet, the consultation the appointment is about to get is asked: the
    # lifecycle answers for it as for any other (its first move creates the row).
    consultation = getattr(appointment, "consultation", None) or Consultation()
    consultation.appointment = appointment
    actions = moves_allowed(consultation, actor=actor, now=timezone.now())
    return AgendaRow(appointment, consultation, actions, error)


def _with_group_headings(rows: list[AgendaRow]) -> list[AgendaRow]:
    """Mark the first attendee of each group session for its heading row. A clinician's
    slots never overlap, so the attendees of one session are adjacent in start order."""
    seen: set[int] = set()
    for row in rows:
        slot = row.appointment.slot
        if slot.capacity > 1 and slot.pk not in seen:
            seen.add(slot.pk)
            row.group = slot
    return rows


@require_GET
@clinician_required
def agenda(request: HttpRequest) -> HttpResponse:
    user = clinician_of(request)
    today = selectors.today_for(user)
    day = parse_day(request.GET.get("day"), today)
    appointments = selectors.agenda_for(clinician=user, day=day)
    rows = _with_group_headings([_agenda_row(a, actor=user) for a in appointments])
    context = {
        "day": day,
        "today": today,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "rows": rows,
        "chart": selectors.sessions_per_week(clinician=user, today=today),
        "waitlist": selectors.waitlist_for(clinician=user),
    }
    return render(request, "dashboard/agenda.html", context)


@require_POST
@clinician_required
def agenda_action(request: HttpRequest, appointment_id: int, action: str) -> HttpResponse:
    """One click on the agenda: start, complete or no-show, through the consultation
    lifecycle (which moves the appointment through scheduling's services)."""
    user = clinician_of(request)
    if action not in ACTION_STATUS:
        return not_found_page(request)
    appointment = appointment_get_for(user=user, appointment_id=appointment_id)
    error = ""
    try:
        consultation = consultation_ensure_for_appointment(appointment_id=appointment.pk)
        consultation_status_change(
            actor=user, consultation_id=consultation.pk, status=ACTION_STATUS[action]
        )
    except DomainError as exc:
        error = exc.message
    fresh = selectors.agenda_for(
        clinician=user, day=appointment.start.astimezone(user.tzinfo).date()
    )
    row = next(_agenda_row(a, actor=user, error=error) for a in fresh if a.pk == appointment.pk)
    if request.htmx:  # type: ignore[attr-defined]
        row.announce = True
        return render(request, "dashboard/agenda.html#agenda-row", {"row": row})
    if error:
        messages.error(request, error)
    day = row.appointment.start.astimezone(user.tzinfo).date().isoformat()
    return redirect(f"{reverse('dashboard:agenda')}?day={day}")
