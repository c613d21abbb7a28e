"""Today around now: for every clinician a visit completed earlier (with notes), and
visits still to come; the psychologist Cleo also has one in progress right now.

Times are offsets from the moment the command runs, rounded to five minutes, so the day
has visits before and after now whenever it runs. A clinician and patient with a visit
on that local day already (an earlier run today) get no second one.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from dashboard.demo.log import DemoLog
from dashboard.demo.people import ADA, BEN, CLEO, DEV, Cast, DemoPerson
from dashboard.demo.visits import Outcome, Visit, visit_exists, visit_play

# (clinician, patient, minutes from now, outcome, notes)
TODAY = (
    (CLEO, "Uli", -150, Outcome.COMPLETED, "Demo note: good week; kept the sleep diary."),
    (CLEO, "Vic", -25, Outcome.IN_PROGRESS, "Demo note (draft): talking about the new job."),
    (CLEO, "Quinn", 60, Outcome.SCHEDULED, ""),
    (CLEO, "Pat", 180, Outcome.CONFIRMED, ""),
    (ADA, "Rene", -120, Outcome.COMPLETED, "Demo note: sore throat, no fever; rest advised."),
    (ADA, "Toni", 90, Outcome.SCHEDULED, ""),
    (BEN, "Sasha", -90, Outcome.COMPLETED, "Demo note: blood pressure 128/82; no change."),
    (BEN, "Wren", 120, Outcome.CONFIRMED, ""),
    (DEV, "Toni", -200, Outcome.COMPLETED, "Demo note: first session; goals agreed."),
    (DEV, "Sasha", 240, Outcome.SCHEDULED, ""),
)
STEP = 5  # minutes


def today_seed(cast: Cast, *, now: datetime, log: DemoLog) -> None:
    base = now.replace(minute=now.minute // STEP * STEP, second=0, microsecond=0)
    for person, patient_name, offset, outcome, notes in TODAY:
        start = base + timedelta(minutes=offset)
        _visit(cast, person, patient_name, start, outcome, notes, now=now, log=log)


def _visit(
    cast: Cast,
    person: DemoPerson,
    patient_name: str,
    start: datetime,
    outcome: str,
    notes: str,
    *,
    now: datetime,
    log: DemoLog,
) -> None:
    clinician, patient = cast.clinician(person), cast.patients[patient_name]
    day = start.astimezone(clinician.tzinfo).date()
    zone = clinician.tzinfo
    window = (
        datetime.combine(day, time.min, tzinfo=zone),
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone),
    )
    if visit_exists(clinician, patient, window):
        return
    visit = Visit(
        clinician=clinician,
        patient=patient,
        start=start,
        minutes=person.slot_minutes,
        outcome=outcome,
        reason="Today's visit (demo)",
        notes=notes,
        mode=person.mode,
    )
    visit_play(visit, now=now, log=log)
