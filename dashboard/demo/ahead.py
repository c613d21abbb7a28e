"""The weeks ahead: published weekly rules, a group session with seats taken, a weekly
series, and single bookings, all made now through the services.

Each is added only when it is missing from the future: rules when no demo rule reaches
three weeks ahead (the new ones start the day after the last one ends), the group
session when none is ahead, the series when the patient has no active series with
occurrences ahead, a booking when the pair has none in the next weeks.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Max

from accounts.models import User
from dashboard.demo.history import week_start_of
from dashboard.demo.log import DemoLog
from dashboard.demo.people import ADA, CLEO, CLINICIANS, DEV, Cast, DemoPerson
from dashboard.demo.visits import Outcome, Visit, visit_exists, visit_play
from scheduling.models import Appointment, AppointmentSeries, AvailabilityRule, Mode, Slot
from scheduling.services import (
    appointment_book,
    rule_create,
    series_book,
    slot_create,
)

RULE_WEEKS = 6
RULES_AHEAD = timedelta(weeks=3)
WEEKDAYS = range(5)  # Monday to Friday
GROUP_CAPACITY = 6
GROUP_PATIENTS = ("Sasha", "Wren", "Toni", "Uli")
GROUP_TIME = (time(18), time(19, 30))
SERIES_PATIENT, SERIES_COUNT = "Quinn", 5
# (clinician, patient, weekday next week, slot of the day)
BOOKINGS_AHEAD = ((ADA, "Pat", 2, 1), (CLEO, "Rene", 3, 3))


def ahead_seed(cast: Cast, *, now: datetime, log: DemoLog) -> None:
    for person in CLINICIANS:
        _weekly_rules(cast.clinician(person), person, now=now, log=log)
    _group_session(cast, now=now, log=log)
    _weekly_series(cast, now=now, log=log)
    for person, patient_name, weekday, slot_index in BOOKINGS_AHEAD:
        _booking_ahead(cast, person, patient_name, weekday, slot_index, now=now, log=log)


def _today(clinician: User, now: datetime) -> date:
    return now.astimezone(clinician.tzinfo).date()


def _weekly_rules(clinician: User, person: DemoPerson, *, now: datetime, log: DemoLog) -> None:
    today = _today(clinician, now)
    rules = AvailabilityRule.objects.filter(clinician=clinician)
    if rules.filter(valid_until__isnull=True).exists():
        return
    last = rules.aggregate(last=Max("valid_until"))["last"]
    if last is not None and last >= today + RULES_AHEAD:
        return
    valid_from = max(today, last + timedelta(days=1)) if last is not None else today
    valid_until = today + timedelta(weeks=RULE_WEEKS, days=-1)
    slots = 0
    for weekday in WEEKDAYS:
        _, expansion = rule_create(
            clinician=clinician,
            weekday=weekday,
            start_time=person.hours[0],
            end_time=person.hours[1],
            valid_from=valid_from,
            valid_until=valid_until,
            slot_minutes=person.slot_minutes,
            mode=person.mode,
        )
        slots += len(expansion.created)
    log.created(f"weekly rules {valid_from}..{valid_until} ({slots} slots) for {person.email}")


def _next_week_day(clinician: User, now: datetime, weekday: int) -> date:
    return week_start_of(_today(clinician, now)) + timedelta(weeks=1, days=weekday)


def _group_session(cast: Cast, *, now: datetime, log: DemoLog) -> None:
    clinician = cast.clinician(DEV)
    ahead = Slot.objects.filter(clinician=clinician, capacity__gt=1, start__gt=now)
    if ahead.exclude(status=Slot.Status.WITHDRAWN).exists():
        return
    day = _next_week_day(clinician, now, 2)
    zone = clinician.tzinfo
    (slot,) = slot_create(
        clinician=clinician,
        start=datetime.combine(day, GROUP_TIME[0], tzinfo=zone),
        end=datetime.combine(day, GROUP_TIME[1], tzinfo=zone),
        mode=Mode.IN_PERSON,
        capacity=GROUP_CAPACITY,
    )
    for name in GROUP_PATIENTS:
        appointment_book(
            patient=cast.patients[name], slot_id=slot.pk, reason="Group: exam stress (demo)"
        )
    log.created(f"group session {day} with {len(GROUP_PATIENTS)} of {GROUP_CAPACITY} seats taken")


def _weekly_series(cast: Cast, *, now: datetime, log: DemoLog) -> None:
    clinician, patient = cast.clinician(CLEO), cast.patients[SERIES_PATIENT]
    live = Appointment.objects.filter(
        series__patient=patient,
        series__status=AppointmentSeries.Status.ACTIVE,
        clinician=clinician,
        start__gt=now,
        status__in=Appointment.ACTIVE_STATUSES,
    )
    if live.exists():
        return
    day = _next_week_day(clinician, now, 2)
    first = (
        Slot.objects.filter(
            clinician=clinician,
            status=Slot.Status.OPEN,
            start__gte=datetime.combine(day, time(13), tzinfo=clinician.tzinfo),
            start__lt=datetime.combine(day, time(23), tzinfo=clinician.tzinfo),
        )
        .order_by("start")
        .first()
    )
    if first is None:
        log.note(f"no open slot of {clinician.email} on {day} for the weekly series")
        return
    booking = series_book(
        patient=patient,
        slot_id=first.pk,
        count=SERIES_COUNT,
        reason="Weekly therapy course (demo)",
        on_conflict=AppointmentSeries.OnConflict.SKIP,
    )
    log.created(f"weekly series of {len(booking.appointments)} for {patient.email} from {day}")


def _booking_ahead(
    cast: Cast,
    person: DemoPerson,
    patient_name: str,
    weekday: int,
    slot_index: int,
    *,
    now: datetime,
    log: DemoLog,
) -> None:
    clinician, patient = cast.clinician(person), cast.patients[patient_name]
    if visit_exists(clinician, patient, (now, now + RULES_AHEAD)):
        return
    day = _next_week_day(clinician, now, weekday)
    opening = datetime.combine(day, person.hours[0], tzinfo=clinician.tzinfo)
    visit = Visit(
        clinician=clinician,
        patient=patient,
        start=opening + timedelta(minutes=person.slot_minutes * slot_index),
        minutes=person.slot_minutes,
        outcome=Outcome.SCHEDULED,
        reason="Follow-up (demo)",
        mode=person.mode,
    )
    visit_play(visit, now=now, log=log)
