"""Reads of the clinician dashboard. Each one starts from a domain's ``*_visible_to``.

Every function returns what one page shows in a fixed number of queries, however many
appointments the clinician has (tests/dashboard/test_query_counts.py pins the counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from accounts.models import Role, User
from consultations.access import patient_visible_to
from consultations.models import Consultation, Prescription
from consultations.selectors import consultations_list, prescriptions_list
from core.errors import NotFound
from core.jobs import jobs_visible_to
from core.models import Job
from labs.models import LabResult
from labs.selectors import lab_results_list
from reports.services import REPORT_JOB_KIND
from scheduling.models import Appointment, Slot
from scheduling.selectors import appointments_visible_to, slots_list
from waitlist.models import WaitlistOffer
from waitlist.selectors import offers_visible_to, waitlist_counts

CHART_WEEKS = 8
# The live offers the agenda lists beside its two waitlist figures (soonest deadline first).
WAITLIST_OFFERS_SHOWN = 5
# The days a page may show. Python's dates end at 0001-01-01 and 9999-12-31, and a page
# steps past the day it shows (previous and next day or week links, a week's seventh day,
# a local day's end in the user's zone): a day asked for outside these is shown as the
# nearest of them, never a 500. No clinic record lies outside them.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)


def day_bounds(day: date, user: User) -> tuple[datetime, datetime]:
    """The instants that start and end ``day`` in the user's own time zone."""
    zone = user.tzinfo
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def clamp_day(day: date) -> date:
    return min(max(day, FIRST_DAY), LAST_DAY)


def today_for(user: User) -> date:
    return timezone.now().astimezone(user.tzinfo).date()


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _own_appointments(clinician: User) -> QuerySet[Appointment]:
    return appointments_visible_to(clinician).filter(clinician_id=clinician.pk)


def agenda_for(*, clinician: User, day: date) -> list[Appointment]:
    """The clinician's appointments of one local day, with patient, consultation and slot
    (a group session's seats)."""
    start, end = day_bounds(day, clinician)
    return list(
        _own_appointments(clinician)
        .filter(start__gte=start, start__lt=end)
        .select_related("patient", "consultation", "slot")
        .order_by("start", "id")
    )


@dataclass
class WaitlistSummary:
    """The agenda's waitlist box: who waits for the clinician, and the freed slots held
    for one of them right now."""

    waiting: int
    open_offers: int
    offers: list[WaitlistOffer]  # the first WAITLIST_OFFERS_SHOWN live offers, with slot

    @property
    def more_offers(self) -> int:
        return max(self.open_offers - len(self.offers), 0)


def waitlist_for(*, clinician: User) -> WaitlistSummary:
    """The clinician's waitlist length and live offers (unanswered, before their
    deadline), from the waitlist's selectors: three queries however long the list."""
    waiting, open_offers = waitlist_counts(clinician)
    offers = (
        offers_visible_to(clinician)
        .filter(
            clinician_id=clinician.pk,
            status=WaitlistOffer.Status.OFFERED,
            expires_at__gt=timezone.now(),
        )
        .select_related("slot", "patient")
        .order_by("expires_at", "pk")
    )
    return WaitlistSummary(waiting, open_offers, list(offers[:WAITLIST_OFFERS_SHOWN]))


@dataclass
class GroupSession:
    """A group slot (capacity above one) with the appointments holding its seats."""

    slot: Slot
    attendees: list[Appointment] = field(default_factory=list)
    kind = "group"

    @property
    def start(self) -> datetime:
        return self.slot.start

    @property
    def end(self) -> datetime:
        return self.slot.end

    @property
    def pk(self) -> int:
        return self.slot.pk


@dataclass
class CalendarDay:
    day: date
    entries: list[Slot | Appointment | GroupSession] = field(default_factory=list)


def week_for(*, clinician: User, week_start: date) -> list[CalendarDay]:
    """Seven local days of open or blocked slots, group sessions with their attendees, and
    appointments (cancelled ones hidden)."""
    start, _ = day_bounds(week_start, clinician)
    _, end = day_bounds(week_start + timedelta(days=6), clinician)
    days = [CalendarDay(week_start + timedelta(days=n)) for n in range(7)]
    slots = slots_list(user=clinician, clinician_id=clinician.pk, start_from=start, start_to=end)
    shown = slots.filter(
        Q(status__in=[Slot.Status.OPEN, Slot.Status.BLOCKED])
        | Q(capacity__gt=1, status=Slot.Status.BOOKED)  # a full group: still its attendees
    )
    appointments = (
        _own_appointments(clinician)
        .filter(start__gte=start, start__lt=end)
        .exclude(status=Appointment.Status.CANCELLED)
        .select_related("patient")
    )
    groups: dict[int, GroupSession] = {}
    entries: list[Slot | Appointment | GroupSession] = []
    for slot in shown:
        if slot.capacity > 1:
            groups[slot.pk] = GroupSession(slot)
        else:
            entries.append(slot)
    for appointment in appointments:
        group = groups.get(appointment.slot_id)
        if group is not None:
            group.attendees.append(appointment)
        else:
            entries.append(appointment)
    entries.extend(groups.values())
    zone = clinician.tzinfo
    for entry in sorted(entries, key=lambda e: (e.start, e.pk)):
        index = (entry.start.astimezone(zone).date() - week_start).days
        if 0 <= index < 7:
            days[index].entries.append(entry)
    return days


def upcoming_slots(*, clinician: User, limit: int = 50) -> list[Slot]:
    """The clinician's next open or blocked slots, for the availability page."""
    queryset = slots_list(user=clinician, clinician_id=clinician.pk, start_from=timezone.now())
    return list(queryset.filter(status__in=[Slot.Status.OPEN, Slot.Status.BLOCKED])[:limit])


def slots_by_ids(*, clinician: User, slot_ids: list[int]) -> list[Slot]:
    """The clinician's own slots among ``slot_ids`` (to explain a conflict)."""
    return list(Slot.objects.filter(clinician_id=clinician.pk, pk__in=slot_ids).order_by("start"))


def clients_of(*, clinician: User) -> QuerySet[User]:
    """Patients with at least one appointment with the clinician, with counts and dates."""
    mine = Q(appointments__clinician_id=clinician.pk)
    now = timezone.now()
    return (
        User.objects.filter(
            role=Role.PATIENT,
            pk__in=appointments_visible_to(clinician).values("patient_id"),
        )
        .annotate(
            visits=Count("appointments", filter=mine),
            last_visit=Max("appointments__start", filter=mine & Q(appointments__start__lte=now)),
            next_visit=Min(
                "appointments__start",
                filter=mine
                & Q(appointments__start__gt=now)
                & Q(appointments__status__in=Appointment.ACTIVE_STATUSES),
            ),
        )
        .order_by("last_name", "first_name", "id")
    )


@dataclass
class ClientHistory:
    patient: User
    appointments: list[Appointment]
    consultations: list[Consultation]
    prescriptions: list[Prescription]
    lab_results: list[LabResult]

    @property
    def flagged_results(self) -> int:
        return sum(1 for result in self.lab_results if result.flag not in (None, "", "normal"))


def client_history(*, clinician: User, patient_id: int) -> ClientHistory:
    """One client's record as the clinician may see it; a stranger's id is a 404."""
    if not patient_visible_to(clinician, patient_id):
        raise NotFound("Client not found.", code="client_not_found")
    patient = User.objects.get(pk=patient_id)
    appointments = list(
        _own_appointments(clinician).filter(patient_id=patient_id).order_by("-start", "-id")
    )
    consultations = list(consultations_list(user=clinician, patient_id=patient_id))
    prescriptions = list(prescriptions_list(user=clinician, patient_id=patient_id))
    lab_results = list(lab_results_list(user=clinician, patient_id=patient_id))
    return ClientHistory(patient, appointments, consultations, prescriptions, lab_results)


def own_consultation(*, clinician: User, consultation_id: int) -> Consultation:
    """A consultation of the clinician's own appointment; anything else is a 404."""
    consultation = (
        consultations_list(user=clinician)
        .filter(pk=consultation_id, appointment__clinician_id=clinician.pk)
        .prefetch_related("prescriptions")
        .first()
    )
    if consultation is None:
        raise NotFound("Consultation not found.", code="consultation_not_found")
    return consultation


def sessions_per_week(*, clinician: User, today: date) -> list[dict[str, Any]]:
    """Completed sessions in each of the last CHART_WEEKS local weeks (oldest first)."""
    first_week = week_start_of(today) - timedelta(weeks=CHART_WEEKS - 1)
    start, _ = day_bounds(first_week, clinician)
    _, end = day_bounds(today, clinician)
    counted = (
        _own_appointments(clinician)
        .filter(status=Appointment.Status.COMPLETED, start__gte=start, start__lt=end)
        .annotate(week=TruncWeek("start", tzinfo=clinician.tzinfo))
        .values("week")
        .annotate(sessions=Count("id"))
    )
    by_week = {row["week"].date(): row["sessions"] for row in counted}
    weeks = [first_week + timedelta(weeks=n) for n in range(CHART_WEEKS)]
    return [{"week": week.isoformat(), "sessions": by_week.get(week, 0)} for week in weeks]


def report_jobs_of(*, user: User, limit: int = 10) -> list[Job]:
    return list(
        jobs_visible_to(user)
        .filter(kind=REPORT_JOB_KIND, requested_by=user)
        .order_by("-created_at")[:limit]
    )


def report_job_of(*, user: User, job_id: Any) -> Job:
    job = jobs_visible_to(user).filter(kind=REPORT_JOB_KIND, requested_by=user, id=job_id).first()
    if job is None:
        raise NotFound("No such report.", code="job_not_found")
    return job
