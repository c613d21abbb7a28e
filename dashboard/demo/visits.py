"""One demo visit, played through the services as it would have happened.

The slot is published a day before the booking, the booking made two days before the
visit (or now, for a visit further ahead), the consultation started a few minutes in,
its notes written, its outcome recorded near the end: each step under the demo clock
(``clock``) at its moment in the story, so the audit rows and events carry those times.
A visit that would clash (the slot is taken, the patient is busy then) is tried at the
next slot of the clinician's day, and left out after a few tries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from accounts.models import User
from consultations.models import Consultation
from consultations.services import (
    consultation_ensure_for_appointment,
    consultation_notes_update,
    consultation_status_change,
)
from core.errors import DomainError
from dashboard.demo.clock import clock_at
from dashboard.demo.log import DemoLog
from scheduling.models import Appointment, Mode, Slot
from scheduling.selectors import slots_overlapping
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    slot_create,
    slot_withdraw,
)


class Outcome:
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in_progress"
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"


BOOKED_AHEAD = timedelta(days=2)
PUBLISHED_AHEAD = timedelta(days=1)
STARTED_AFTER = timedelta(minutes=2)
TRIES = 4


@dataclass(frozen=True)
class Visit:
    clinician: User
    patient: User
    start: datetime
    minutes: int
    outcome: str
    reason: str
    notes: str = ""
    mode: str = Mode.IN_PERSON

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    def later(self, steps: int) -> Visit:
        """The same visit ``steps`` slot lengths later."""
        return replace(self, start=self.start + timedelta(minutes=self.minutes * steps))


def visit_exists(clinician: User, patient: User, window: tuple[datetime, datetime]) -> bool:
    """Whether the pair already has a visit (any status) starting inside ``window``: the
    key that makes a second run, or a run later the same week, add nothing."""
    return Appointment.objects.filter(
        clinician=clinician, patient=patient, start__gte=window[0], start__lt=window[1]
    ).exists()


def visit_play(visit: Visit, *, now: datetime, log: DemoLog) -> Appointment | None:
    """Book ``visit`` (or the first of a few later times that works) and play it out."""
    for steps in range(TRIES):
        attempt = visit.later(steps)
        if not _fits(attempt, now):
            break
        try:
            appointment = _book(attempt, now=now)
        except DomainError as refusal:
            log.note(f"{attempt.start:%Y-%m-%d %H:%M} not bookable ({refusal.code}), next slot")
            continue
        if appointment is not None:
            _outcome(attempt, appointment, now=now)
            log.created(
                f"{attempt.outcome} visit {attempt.patient.first_name} with "
                f"{attempt.clinician.first_name} {_local(attempt):%a %d %b %H:%M}"
            )
            return appointment
    log.note(f"no slot for {visit.patient.email} with {visit.clinician.email}; left out")
    return None


def _fits(visit: Visit, now: datetime) -> bool:
    """Whether the visit can still have its outcome at this time: a finished visit
    ended by now, one in progress has begun, one still to come has not."""
    if visit.outcome in (Outcome.COMPLETED, Outcome.NO_SHOW):
        return visit.end <= now
    if visit.outcome == Outcome.IN_PROGRESS:
        return visit.start <= now < visit.end
    if visit.outcome == Outcome.CANCELLED:
        return visit.start <= now
    return visit.start > now


def _local(visit: Visit) -> datetime:
    return visit.start.astimezone(visit.clinician.tzinfo)


def booked_at(start: datetime, now: datetime) -> datetime:
    return min(start - BOOKED_AHEAD, now)


def slot_for(visit: Visit, *, now: datetime, capacity: int = 1) -> Slot | None:
    """The clinician's open slot at exactly the visit's time, or a new one published
    there; None when a taken slot overlaps it. Open, empty slots in the way (a weekly
    rule's, from an earlier run) are withdrawn first, as the clinician would."""
    live = list(
        slots_overlapping(
            clinician_id=visit.clinician.pk, start=visit.start, end=visit.end
        ).order_by("start")
    )
    same = [s for s in live if s.start == visit.start and s.end == visit.end]
    if same and same[0].status == Slot.Status.OPEN and same[0].capacity == capacity:
        return same[0]
    if any(s.seats_taken or s.status != Slot.Status.OPEN for s in live):
        return None
    for slot in live:
        slot_withdraw(actor=visit.clinician, slot_id=slot.pk)
    with clock_at(booked_at(visit.start, now) - PUBLISHED_AHEAD):
        (slot,) = slot_create(
            clinician=visit.clinician,
            start=visit.start,
            end=visit.end,
            mode=visit.mode,
            capacity=capacity,
        )
    return slot


def _book(visit: Visit, *, now: datetime) -> Appointment | None:
    slot = slot_for(visit, now=now)
    if slot is None:
        return None
    with clock_at(booked_at(visit.start, now)):
        return appointment_book(patient=visit.patient, slot_id=slot.pk, reason=visit.reason)


def consultation_of(appointment: Appointment) -> Consultation:
    """The appointment's consultation (made with the booking; an appointment of an
    older demo database may predate that)."""
    return consultation_ensure_for_appointment(appointment_id=appointment.pk)


def _outcome(visit: Visit, appointment: Appointment, *, now: datetime) -> None:
    clinician, outcome = visit.clinician, visit.outcome
    if outcome == Outcome.CANCELLED:
        # The patient cancels a day and a half ahead, inside the change cut-off.
        with clock_at(visit.start - timedelta(hours=36)):
            appointment_cancel(
                actor=visit.patient, appointment_id=appointment.pk, reason="Feeling unwell"
            )
        return
    if outcome in (Outcome.CONFIRMED, Outcome.COMPLETED, Outcome.IN_PROGRESS):
        with clock_at(min(booked_at(visit.start, now) + timedelta(hours=3), now)):
            appointment_confirm(actor=clinician, appointment_id=appointment.pk)
    if outcome in (Outcome.COMPLETED, Outcome.NO_SHOW, Outcome.IN_PROGRESS):
        visit_finish(appointment, clinician, outcome=outcome, notes=visit.notes)


def visit_finish(appointment: Appointment, clinician: User, *, outcome: str, notes: str) -> None:
    """Record what happened at a visit that has begun: in progress (with draft notes),
    completed (notes, then the outcome near the end) or no-show."""
    consultation = consultation_of(appointment)
    if outcome == Outcome.NO_SHOW:
        with clock_at(appointment.start + timedelta(minutes=15)):
            consultation_status_change(
                actor=clinician, consultation_id=consultation.pk, status=Outcome.NO_SHOW
            )
        return
    with clock_at(appointment.start + STARTED_AFTER):
        if consultation.status != Outcome.IN_PROGRESS:
            consultation_status_change(
                actor=clinician, consultation_id=consultation.pk, status=Outcome.IN_PROGRESS
            )
        if notes and not consultation.notes:
            consultation_notes_update(actor=clinician, consultation_id=consultation.pk, notes=notes)
    if outcome == Outcome.COMPLETED:
        with clock_at(appointment.end - timedelta(minutes=1)):
            consultation_status_change(
                actor=clinician, consultation_id=consultation.pk, status=Outcome.COMPLETED
            )
