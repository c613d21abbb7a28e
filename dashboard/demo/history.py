"""The last eight weeks: two visits a week with each clinician, nearly all completed
with notes; addenda, prescriptions and lab results on some; one cancelled, one no-show.

Weeks are the clinician's local weeks before the current one. A visit of a clinician and
patient in a week that already has one of theirs (from this plan on an earlier run, or a
weekly series that has since become history) is not added again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from accounts.models import Role, User
from dashboard.demo.clinical import addendum_add, lab_result_add, prescription_add
from dashboard.demo.log import DemoLog
from dashboard.demo.people import ADA, BEN, CLEO, DEV, Cast, DemoPerson
from dashboard.demo.visits import Outcome, Visit, visit_exists, visit_play
from scheduling.models import Appointment

WEEKS = 8


@dataclass(frozen=True)
class Caseload:
    """A clinician's two visit days of the week and the patients who come, in turn."""

    person: DemoPerson
    weekdays: tuple[int, int]
    patients: tuple[str, ...]


CASELOADS = (
    Caseload(ADA, (0, 2), ("Pat", "Rene", "Toni")),
    Caseload(BEN, (1, 3), ("Quinn", "Sasha", "Vic")),
    Caseload(CLEO, (1, 3), ("Uli", "Vic", "Pat", "Quinn")),
    Caseload(DEV, (0, 4), ("Sasha", "Wren", "Toni")),
)

# (clinician, weeks ago, visit of the week) → what happened, when not completed
EXCEPTIONS = {
    (CLEO.email_local, 2, 1): Outcome.CANCELLED,
    (CLEO.email_local, 3, 1): Outcome.NO_SHOW,
}
# (clinician, weeks ago, visit) → (lab test, value)
LAB_RESULTS = {
    (ADA.email_local, 6, 0): ("tsh", "2.1"),  # normal
    (ADA.email_local, 4, 0): ("glucose", "7.4"),  # high
    (ADA.email_local, 1, 0): ("potassium", "6.8"),  # critical
    (BEN.email_local, 3, 1): ("glucose", "6.1"),  # high
}
NOTES: dict[str, tuple[str, ...]] = {
    Role.DOCTOR: (
        "Demo note: reviewed symptoms, examination unremarkable, plan discussed.",
        "Demo note: follow-up; blood pressure fine, continue as agreed.",
        "Demo note: mild cough for a week, no fever; advice given, review if worse.",
    ),
    Role.PSYCHOLOGIST: (
        "Demo note: session on sleep routine; homework: a sleep diary.",
        "Demo note: reviewed the diary; practised a breathing exercise.",
        "Demo note: discussed work stress; agreed on two small weekly goals.",
        "Demo note: progress on goals; next time a relapse-prevention plan.",
    ),
}
REASONS = ("Follow-up (demo)", "Check-up (demo)", "First visit (demo)")


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def history_seed(cast: Cast, *, now: datetime, log: DemoLog) -> None:
    for caseload in CASELOADS:
        clinician = cast.clinician(caseload.person)
        this_week = week_start_of(now.astimezone(clinician.tzinfo).date())
        for weeks_ago in range(WEEKS, 0, -1):
            monday = this_week - timedelta(weeks=weeks_ago)
            for index in (0, 1):
                _week_visit(cast, caseload, clinician, monday, weeks_ago, index, now, log)


def _week_visit(
    cast: Cast,
    caseload: Caseload,
    clinician: User,
    monday: date,
    weeks_ago: int,
    index: int,
    now: datetime,
    log: DemoLog,
) -> None:
    person = caseload.person
    patient = cast.patients[caseload.patients[(weeks_ago * 2 + index) % len(caseload.patients)]]
    zone = clinician.tzinfo
    window = (
        datetime.combine(monday, time.min, tzinfo=zone),
        datetime.combine(monday + timedelta(weeks=1), time.min, tzinfo=zone),
    )
    if visit_exists(clinician, patient, window):
        return
    key = (person.email_local, weeks_ago, index)
    notes = NOTES[person.role]
    visit = Visit(
        clinician=clinician,
        patient=patient,
        start=datetime.combine(
            monday + timedelta(days=caseload.weekdays[index]),
            _slot_time(person, 2 * index),
            tzinfo=zone,
        ),
        minutes=person.slot_minutes,
        outcome=EXCEPTIONS.get(key, Outcome.COMPLETED),
        reason=REASONS[weeks_ago % len(REASONS)],
        notes=notes[(weeks_ago + index) % len(notes)],
        mode=person.mode,
    )
    appointment = visit_play(visit, now=now, log=log)
    if appointment is not None and visit.outcome == Outcome.COMPLETED:
        _records(appointment, person, key, now)


def _slot_time(person: DemoPerson, slot_index: int) -> time:
    opening = datetime.combine(date(2000, 1, 3), person.hours[0])
    return (opening + timedelta(minutes=person.slot_minutes * slot_index)).time()


def _records(
    appointment: Appointment, person: DemoPerson, key: tuple[str, int, int], now: datetime
) -> None:
    _, weeks_ago, index = key
    if weeks_ago in (2, 5) and index == 0:
        addendum_add(appointment, now=now, text="Demo addendum: the patient called; all well.")
    if person.role == Role.DOCTOR and index == 0 and weeks_ago % 2 == 1:
        prescription_add(appointment, which=weeks_ago)
    if key in LAB_RESULTS:
        test, value = LAB_RESULTS[key]
        lab_result_add(appointment, test=test, value=value, now=now)
