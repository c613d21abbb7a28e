"""Scheduling writes. Each public function is one transaction and takes its row locks
through ``lock_objects`` in the fixed order appointment → slots (by id) → person.

The application checks give the friendly 409; on PostgreSQL the constraints of
``scheduling.models`` make the same rules true even if a check were ever missed, and
their violations are mapped to the same errors here.
"""

from __future__ import annotations

import bisect
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, ClinicianProfile, Hospital, Role, User
from core.audit import audit_record
from core.errors import DomainError
from core.metrics import BOOKING_CONFLICTS, BOOKINGS, CANCELLATIONS, count_on_commit
from core.sql import insert_row, update_row
from scheduling.errors import (
    AppointmentNotActive,
    AppointmentNotFound,
    AppointmentNotStarted,
    BeyondHorizon,
    ChangeCutoffPassed,
    FieldNotEditable,
    InvalidAvailability,
    InvalidTransition,
    NoticeTooShort,
    OtherClinician,
    PatientOverlap,
    RoleNotAllowed,
    SameSlot,
    SlotBooked,
    SlotNotFound,
    SlotOverlap,
    SlotUnavailable,
)
from scheduling.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_RESCHEDULED,
    APPOINTMENT_SCHEDULED,
    APPOINTMENT_UPDATED,
    appointment_recorded,
    appointment_state,
    slots_recorded,
)
from scheduling.lock_objects import (
    appointment_lock,
    person_lock,
    slot_lock_for_booking,
    slots_lock,
)
from scheduling.models import Appointment, AvailabilityRule, Mode, Slot
from scheduling.selectors import (
    appointments_visible_to,
    patient_overlapping_appointments,
    slots_overlapping,
)

# Bounds that keep one request small and every datetime computation far from overflow.
MAX_SLOTS_PER_REQUEST = 500
MAX_PUBLISH_AHEAD = timedelta(days=730)
MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 480

Status = Appointment.Status

# The appointment lifecycle (SPEC invariant 3). Written by hand: the table is the rule.
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

SLOT_OVERLAP_CONSTRAINT = "slot_no_overlap_per_clinician"
ACTIVE_PER_SLOT_CONSTRAINT = "uniq_active_appointment_per_slot"
PATIENT_OVERLAP_CONSTRAINT = "no_overlapping_active_appointments_per_patient"


# --- helpers ---------------------------------------------------------------------------


def _database_refuses_patient_overlap() -> bool:
    """On PostgreSQL the exclusion constraint refuses a patient's overlapping bookings, so
    a booking inserts and lets it decide (no lock, no pre-check query); SQLite, the
    demo database, has no such constraint, so the booking checks first there."""
    return transaction.get_connection().vendor == "postgresql"


def _require_role(user: User, *roles: str) -> None:
    if not (user.is_authenticated and user.is_active and user.role in roles):
        raise RoleNotAllowed(details={"allowed_roles": list(roles)})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _constraint_name(exc: IntegrityError) -> str:
    """The violated constraint's name (psycopg diagnostics), or the message on SQLite."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or str(exc)


def _appointment_integrity_error(exc: IntegrityError) -> DomainError:
    """The 409 for an appointment constraint the database enforced; any other
    integrity error is a bug and propagates unchanged. SQLite names the column."""
    name = _constraint_name(exc)
    if PATIENT_OVERLAP_CONSTRAINT in name:
        BOOKING_CONFLICTS.inc()
        return PatientOverlap()
    if ACTIVE_PER_SLOT_CONSTRAINT in name or "slot_id" in name:
        BOOKING_CONFLICTS.inc()
        return SlotUnavailable()
    raise exc


def _move(appointment: Appointment, to: str) -> None:
    """Apply one edge of ``TRANSITIONS`` or refuse with the allowed ones."""
    allowed = TRANSITIONS[appointment.status]
    if to not in allowed:
        raise InvalidTransition(
            f"An appointment cannot go from {appointment.status} to {to}.",
            details={"from": appointment.status, "to": to, "allowed": sorted(allowed)},
        )
    appointment.status = to


def _locked_visible_appointment(actor: User, appointment_id: int) -> Appointment:
    appointment = appointment_lock(appointment_id, queryset=appointments_visible_to(actor))
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


def _lock_one_slot(slot_id: int) -> Slot:
    slot = slots_lock([slot_id]).get(slot_id)
    if slot is None:
        raise SlotNotFound(details={"slot": slot_id})
    return slot


@dataclass(frozen=True)
class BookingPolicy:
    min_notice: timedelta
    max_horizon: timedelta


def booking_policy_for(clinician_id: int) -> BookingPolicy:
    """Settings, with the clinician's own overrides where they set them."""
    profile = (
        ClinicianProfile.objects.filter(user_id=clinician_id)
        .only("min_notice_minutes", "max_horizon_days")
        .first()
    )
    return booking_policy(profile)


def booking_policy(profile: ClinicianProfile | None) -> BookingPolicy:
    minutes = profile.min_notice_minutes if profile is not None else None
    days = profile.max_horizon_days if profile is not None else None
    return booking_policy_of(minutes, days)


def booking_policy_of(minutes: int | None, days: int | None) -> BookingPolicy:
    """Settings, where a clinician's overrides (``minutes`` of notice, horizon ``days``)
    are None."""
    return BookingPolicy(
        min_notice=timedelta(
            minutes=settings.SCHEDULING_MIN_NOTICE_MINUTES if minutes is None else minutes
        ),
        max_horizon=timedelta(days=settings.SCHEDULING_MAX_HORIZON_DAYS if days is None else days),
    )


def _check_bookable(slot: Slot, *, now: datetime, policy: BookingPolicy | None = None) -> None:
    if slot.status != Slot.Status.OPEN:
        BOOKING_CONFLICTS.inc()  # counted even though the transaction rolls back
        raise SlotUnavailable(details={"slot": slot.pk, "slot_status": slot.status})
    if policy is None:
        policy = booking_policy_for(slot.clinician_id)
    if slot.start < now + policy.min_notice:
        raise NoticeTooShort(
            details={
                "slot": slot.pk,
                "min_notice_minutes": int(policy.min_notice.total_seconds() // 60),
            }
        )
    if slot.start > now + policy.max_horizon:
        raise BeyondHorizon(details={"slot": slot.pk, "max_horizon_days": policy.max_horizon.days})


def _check_patient_free(patient_id: int, slot: Slot, *, exclude_id: int | None = None) -> None:
    person_lock(patient_id)
    clash_ids = _patient_clashes(patient_id, slot, exclude_id=exclude_id)
    if clash_ids:
        BOOKING_CONFLICTS.inc()
        raise PatientOverlap(details={"appointments": clash_ids})


def _patient_clashes(patient_id: int, slot: Slot, *, exclude_id: int | None = None) -> list[int]:
    clashes = patient_overlapping_appointments(
        patient_id=patient_id, start=slot.start, end=slot.end, exclude_id=exclude_id
    )
    return list(clashes.values_list("pk", flat=True)[:10])


def _check_patient_cutoff(actor: User, appointment: Appointment, *, now: datetime) -> None:
    """Patients may change an appointment only up to the cut-off; others at any time."""
    if actor.role != Role.PATIENT:
        return
    cutoff = timedelta(hours=settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS)
    if appointment.start - now < cutoff:
        raise ChangeCutoffPassed(
            details={
                "cutoff_hours": settings.SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS,
                "latest_change_at": _iso(appointment.start - cutoff),
            }
        )


# --- availability ----------------------------------------------------------------------


def _check_window(start: datetime, end: datetime, *, now: datetime) -> None:
    problems: dict[str, Any] = {}
    if timezone.is_naive(start) or timezone.is_naive(end):
        problems["offset"] = "Times need a UTC offset."
    elif end <= start:
        problems["end"] = "The end must be after the start."
    elif start <= now:
        problems["start"] = "The start must be in the future."
    elif end > now + MAX_PUBLISH_AHEAD:
        problems["end"] = f"Publish at most {MAX_PUBLISH_AHEAD.days} days ahead."
    if problems:
        raise InvalidAvailability(details={"fields": problems})


Interval = tuple[datetime, datetime]
CalendarRow = tuple[datetime, datetime, int | None, int | None]  # start, end, slot id, rule id


def _split(start: datetime, end: datetime, slot_minutes: int | None) -> list[Interval]:
    if slot_minutes is None:
        return [(start, end)]
    if not MIN_SLOT_MINUTES <= slot_minutes <= MAX_SLOT_MINUTES:
        raise InvalidAvailability(
            details={"fields": {"slot_minutes": f"Use {MIN_SLOT_MINUTES}-{MAX_SLOT_MINUTES}."}}
        )
    length = timedelta(minutes=slot_minutes)
    count = int((end - start) / length)
    if count == 0:
        raise InvalidAvailability(
            details={"fields": {"slot_minutes": "The range is shorter than one slot."}}
        )
    if count > MAX_SLOTS_PER_REQUEST:
        raise InvalidAvailability(
            details={"fields": {"slot_minutes": f"At most {MAX_SLOTS_PER_REQUEST} slots at once."}}
        )
    # A remainder shorter than one slot is left unpublished.
    return [(start + i * length, start + (i + 1) * length) for i in range(count)]


def _default_hospital(clinician: User, mode: str) -> Hospital | None:
    if mode != Mode.IN_PERSON:
        return None
    profile = ClinicianProfile.objects.filter(user_id=clinician.pk).select_related("hospital")
    first = profile.first()
    return first.hospital if first is not None else None


def _insert_slots(slots: list[Slot]) -> list[Slot]:
    """Insert in a savepoint so the exclusion constraint's refusal becomes a clean 409."""
    try:
        with transaction.atomic():
            return Slot.objects.bulk_create(slots)
    except IntegrityError as exc:
        if SLOT_OVERLAP_CONSTRAINT in _constraint_name(exc):
            raise SlotOverlap() from exc
        raise


@transaction.atomic
def slot_create(
    *,
    clinician: User,
    start: datetime,
    end: datetime,
    slot_minutes: int | None = None,
    mode: str = Mode.IN_PERSON,
    hospital: Hospital | None = None,
) -> list[Slot]:
    """Publish availability: one slot, or ``[start, end)`` split into ``slot_minutes`` pieces.

    Any overlap with the clinician's live slots refuses the whole request (409).
    """
    _require_role(clinician, *CLINICIAN_ROLES)
    now = timezone.now()
    _check_window(start, end, now=now)
    pieces = _split(start, end, slot_minutes)
    person_lock(clinician.pk)  # serialises this clinician's availability writes
    clashes = list(
        slots_overlapping(clinician_id=clinician.pk, start=start, end=end).values_list(
            "pk", flat=True
        )[:20]
    )
    if clashes:
        raise SlotOverlap(details={"conflicting_slots": clashes})
    hospital = hospital or _default_hospital(clinician, mode)
    slots = _insert_slots(
        [Slot(clinician=clinician, start=s, end=e, mode=mode, hospital=hospital) for s, e in pieces]
    )
    slots_recorded(actor=clinician, action="slot.create", slots=slots)
    return slots


@transaction.atomic
def slot_withdraw(*, actor: User, slot_id: int) -> Slot:
    """Take a slot off the calendar. Booked slots stay: cancel the appointment first."""
    _require_role(actor, *CLINICIAN_ROLES, Role.STAFF)
    slot = slots_lock([slot_id]).get(slot_id)
    if slot is None or (actor.role != Role.STAFF and slot.clinician_id != actor.pk):
        raise SlotNotFound(details={"slot": slot_id})
    if slot.status == Slot.Status.BOOKED:
        raise SlotBooked(details={"slot": slot.pk})
    if slot.status != Slot.Status.WITHDRAWN:
        changes = {"status": {"before": slot.status, "after": Slot.Status.WITHDRAWN}}
        slot.status = Slot.Status.WITHDRAWN
        slot.save(update_fields=["status"])
        slots_recorded(actor=actor, action="slot.withdraw", slots=[slot], changes=changes)
    return slot


@dataclass
class RuleExpansion:
    """What one expansion did: new slots, candidates refused, local times that never exist."""

    created: list[Slot] = field(default_factory=list)
    already_present: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    skipped_nonexistent: list[str] = field(default_factory=list)


def _rule_dates(rule: AvailabilityRule, first: date, last: date) -> Iterator[date]:
    day = first + timedelta(days=(rule.weekday - first.weekday()) % 7)
    while day <= last:
        yield day
        day += timedelta(days=7)


def _wall_clock_starts(rule: AvailabilityRule, day: date) -> Iterator[datetime]:
    """Naive local starts of the day's slots (the rule speaks wall-clock time)."""
    step = timedelta(minutes=rule.slot_minutes + rule.buffer_minutes)
    length = timedelta(minutes=rule.slot_minutes)
    wall = datetime.combine(day, rule.start_time)
    close = datetime.combine(day, rule.end_time)
    while wall + length <= close:
        yield wall
        wall += step


def _to_utc(wall: datetime, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The instant of a local wall time, or None when the clock skips it (spring forward).

    An ambiguous time (autumn fold) takes its first occurrence (fold=0).
    """
    local = wall.replace(tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


class _Calendar:
    """A clinician's live slots as sorted, non-overlapping intervals."""

    def __init__(self, rows: list[CalendarRow]) -> None:
        self.rows = sorted(rows)
        self.ends = [row[1] for row in self.rows]

    def find(self, start: datetime, end: datetime) -> CalendarRow | None:
        index = bisect.bisect_right(self.ends, start)  # first interval ending after start
        if index < len(self.rows) and self.rows[index][0] < end:
            return self.rows[index]
        return None

    def add(self, start: datetime, end: datetime) -> None:
        row = (start, end, None, None)
        index = bisect.bisect_left(self.rows, row)
        self.rows.insert(index, row)
        self.ends.insert(index, end)


@transaction.atomic
def rule_expand(*, rule_id: int) -> RuleExpansion:
    """Turn a weekly rule into slots from now up to SCHEDULING_RULE_HORIZON_DAYS.

    Slots start at the same local wall-clock time every week, whatever the UTC offset
    (so across a daylight-saving change the UTC time moves, the local time does not).
    Re-running is harmless: slots the rule already made are counted, not duplicated, and
    a clash with another slot is reported instead of failing the expansion.
    """
    rule = AvailabilityRule.objects.select_related("clinician").get(pk=rule_id)
    result = RuleExpansion()
    if not rule.is_active:
        return result
    zone = zoneinfo.ZoneInfo(rule.time_zone)
    now = timezone.now()
    today = now.astimezone(zone).date()
    last = today + timedelta(days=settings.SCHEDULING_RULE_HORIZON_DAYS)
    if rule.valid_until is not None:
        last = min(last, rule.valid_until)
    first = max(rule.valid_from, today)
    if first > last:
        return result
    person_lock(rule.clinician_id)
    window_start = datetime.combine(first, time.min, tzinfo=zone) - timedelta(days=1)
    window_end = datetime.combine(last, time.max, tzinfo=zone) + timedelta(days=1)
    calendar = _Calendar(
        list(
            slots_overlapping(
                clinician_id=rule.clinician_id, start=window_start, end=window_end
            ).values_list("start", "end", "pk", "rule_id")
        )
    )
    length = timedelta(minutes=rule.slot_minutes)
    new_slots: list[Slot] = []
    for day in _rule_dates(rule, first, last):
        for wall in _wall_clock_starts(rule, day):
            start = _to_utc(wall, zone)
            if start is None:
                result.skipped_nonexistent.append(wall.isoformat())
                continue
            if start <= now:
                continue
            end = start + length
            clash = calendar.find(start, end)
            if clash is not None and clash[3] == rule.pk and clash[0] == start and clash[1] == end:
                result.already_present += 1
            elif clash is not None:
                result.conflicts.append(
                    {"start": _iso(start), "end": _iso(end), "conflicting_slot": clash[2]}
                )
            else:
                calendar.add(start, end)
                new_slots.append(
                    Slot(
                        clinician_id=rule.clinician_id,
                        start=start,
                        end=end,
                        mode=rule.mode,
                        hospital_id=rule.hospital_id,
                        rule=rule,
                    )
                )
    result.created = _insert_slots(new_slots)
    # Expansion runs for the rule's clinician (at creation) or on beat (no actor).
    slots_recorded(
        actor=None, action="slot.create", slots=result.created, metadata={"rule_id": rule.pk}
    )
    return result


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


@transaction.atomic
def rule_create(
    *,
    clinician: User,
    weekday: int,
    start_time: time,
    end_time: time,
    valid_from: date,
    valid_until: date | None = None,
    time_zone: str | None = None,
    slot_minutes: int = 30,
    buffer_minutes: int = 0,
    mode: str = Mode.IN_PERSON,
    hospital: Hospital | None = None,
) -> tuple[AvailabilityRule, RuleExpansion]:
    """Save a weekly rule (in the clinician's time zone unless given) and expand it."""
    _require_role(clinician, *CLINICIAN_ROLES)
    zone_name = time_zone or clinician.time_zone
    problems: dict[str, str] = {}
    try:
        zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems["time_zone"] = "Use an IANA time zone such as Europe/London."
    if not 0 <= weekday <= 6:
        problems["weekday"] = "Use 0 (Monday) to 6 (Sunday)."
    if not MIN_SLOT_MINUTES <= slot_minutes <= MAX_SLOT_MINUTES:
        problems["slot_minutes"] = f"Use {MIN_SLOT_MINUTES}-{MAX_SLOT_MINUTES}."
    if not 0 <= buffer_minutes <= 240:
        problems["buffer_minutes"] = "Use 0-240."
    if end_time <= start_time:
        problems["end_time"] = "The end time must be after the start time."
    elif _minutes(end_time) - _minutes(start_time) < slot_minutes:
        problems["slot_minutes"] = "The daily window is shorter than one slot."
    if valid_until is not None and valid_until < valid_from:
        problems["valid_until"] = "valid_until must not be before valid_from."
    if problems:
        raise InvalidAvailability(details={"fields": problems})
    rule = AvailabilityRule.objects.create(
        clinician=clinician,
        weekday=weekday,
        start_time=start_time,
        end_time=end_time,
        time_zone=zone_name,
        slot_minutes=slot_minutes,
        buffer_minutes=buffer_minutes,
        valid_from=valid_from,
        valid_until=valid_until,
        mode=mode,
        hospital=hospital or _default_hospital(clinician, mode),
    )
    audit_record(actor=clinician, action="availability_rule.create", obj=rule)
    return rule, rule_expand(rule_id=rule.pk)


# --- appointments ----------------------------------------------------------------------


# What a new appointment's INSERT writes (core.sql.insert_row: built once per process).
_NEW_APPOINTMENT_FIELDS = tuple(
    field.attname for field in Appointment._meta.concrete_fields if not field.primary_key
)


def _create_appointment(**fields: Any) -> Appointment:
    """INSERT the appointment. A constraint's refusal is its 409; the transaction is then
    aborted, so the caller only raises it on (no savepoint: two round trips a booking)."""
    appointment = Appointment(**fields)
    try:
        insert_row(appointment, _NEW_APPOINTMENT_FIELDS)
    except IntegrityError as exc:
        raise _appointment_integrity_error(exc) from exc
    return appointment


def appointment_book(*, patient: User, slot_id: int, reason: str = "") -> Appointment:
    """Book an open slot for ``patient``: lock the slot, check policy and overlap, insert.

    The appointment comes back with its slot, patient and clinician loaded.
    """
    try:
        return _book(patient=patient, slot_id=slot_id, reason=reason)
    except _RefusedOverlap as refused:
        # PostgreSQL's exclusion constraint found the clash; with the booking rolled
        # back, name the appointments it clashed with.
        clashes = _patient_clashes(patient.pk, refused.slot)
        raise PatientOverlap(details={"appointments": clashes}) from refused


class _RefusedOverlap(Exception):
    def __init__(self, slot: Slot) -> None:
        super().__init__(slot)
        self.slot = slot


@transaction.atomic
def _book(*, patient: User, slot_id: int, reason: str) -> Appointment:
    _require_role(patient, Role.PATIENT)
    locked = slot_lock_for_booking(slot_id)
    if locked is None:
        raise SlotNotFound(details={"slot": slot_id})
    slot, overrides = locked
    _check_bookable(slot, now=timezone.now(), policy=booking_policy_of(*overrides))
    if not _database_refuses_patient_overlap():
        _check_patient_free(patient.pk, slot)
    slot.status = Slot.Status.BOOKED
    update_row(slot, ["status"])
    try:
        appointment = _create_appointment(
            slot=slot,
            patient=patient,
            clinician=slot.clinician,
            start=slot.start,
            end=slot.end,
            reason=reason,
        )
    except PatientOverlap as overlap:
        raise _RefusedOverlap(slot) from overlap
    appointment_recorded(
        actor=patient,
        appointment=appointment,
        action="appointment.book",
        before=None,
        event=APPOINTMENT_SCHEDULED,
    )
    count_on_commit(BOOKINGS)
    return appointment


@transaction.atomic
def appointment_cancel(*, actor: User, appointment_id: int, reason: str = "") -> Appointment:
    """Cancel and give the slot back to the calendar so someone else can book it."""
    appointment = _locked_visible_appointment(actor, appointment_id)
    before = appointment_state(appointment)
    now = timezone.now()
    _move(appointment, Status.CANCELLED)
    _check_patient_cutoff(actor, appointment, now=now)
    slot = _lock_one_slot(appointment.slot_id)
    if slot.status == Slot.Status.BOOKED:
        slot.status = Slot.Status.OPEN
        slot.save(update_fields=["status"])
    appointment.cancelled_at = now
    appointment.cancelled_by = actor
    appointment.cancellation_reason = reason
    appointment.save(
        update_fields=[
            "status",
            "cancelled_at",
            "cancelled_by",
            "cancellation_reason",
            "updated_at",
        ]
    )
    appointment_recorded(
        actor=actor,
        appointment=appointment,
        action="appointment.cancel",
        before=before,
        event=APPOINTMENT_CANCELLED,
    )
    count_on_commit(CANCELLATIONS)
    return appointment


@transaction.atomic
def appointment_confirm(*, actor: User, appointment_id: int) -> Appointment:
    _require_role(actor, *CLINICIAN_ROLES, Role.STAFF)
    appointment = _locked_visible_appointment(actor, appointment_id)
    before = appointment_state(appointment)
    _move(appointment, Status.CONFIRMED)
    appointment.confirmed_at = timezone.now()
    appointment.save(update_fields=["status", "confirmed_at", "updated_at"])
    appointment_recorded(
        actor=actor,
        appointment=appointment,
        action="appointment.confirm",
        before=before,
        event=APPOINTMENT_UPDATED,
    )
    return appointment


def _finish(actor: User, appointment_id: int, to: str) -> Appointment:
    _require_role(actor, *CLINICIAN_ROLES, Role.STAFF)
    appointment = _locked_visible_appointment(actor, appointment_id)
    before = appointment_state(appointment)
    _move(appointment, to)
    if appointment.start > timezone.now():
        raise AppointmentNotStarted(details={"start": _iso(appointment.start)})
    appointment.save(update_fields=["status", "updated_at"])
    appointment_recorded(
        actor=actor,
        appointment=appointment,
        action=f"appointment.{to}",
        before=before,
        event=APPOINTMENT_UPDATED,
    )
    return appointment


@transaction.atomic
def appointment_complete(*, actor: User, appointment_id: int) -> Appointment:
    """The visit happened; the slot stays booked as history."""
    return _finish(actor, appointment_id, Status.COMPLETED)


@transaction.atomic
def appointment_mark_no_show(*, actor: User, appointment_id: int) -> Appointment:
    return _finish(actor, appointment_id, Status.NO_SHOW)


@transaction.atomic
def appointment_reschedule(*, actor: User, appointment_id: int, new_slot_id: int) -> Appointment:
    """Move an appointment to another open slot of the same clinician, atomically.

    The same checks as booking apply to the new slot; the old slot is reopened and
    kept as ``previous_slot``.
    """
    appointment = _locked_visible_appointment(actor, appointment_id)
    before = appointment_state(appointment)
    now = timezone.now()
    _move(appointment, Status.SCHEDULED)
    if appointment.slot_id == new_slot_id:
        raise SameSlot(details={"slot": new_slot_id})
    _check_patient_cutoff(actor, appointment, now=now)
    locked = slots_lock([appointment.slot_id, new_slot_id])
    new_slot = locked.get(new_slot_id)
    if new_slot is None:
        raise SlotNotFound(details={"slot": new_slot_id})
    if new_slot.clinician_id != appointment.clinician_id:
        raise OtherClinician(details={"slot": new_slot_id})
    _check_bookable(new_slot, now=now)
    _check_patient_free(appointment.patient_id, new_slot, exclude_id=appointment.pk)
    old_slot = locked[appointment.slot_id]
    old_slot.status = Slot.Status.OPEN
    old_slot.save(update_fields=["status"])
    new_slot.status = Slot.Status.BOOKED
    new_slot.save(update_fields=["status"])
    appointment.previous_slot = old_slot
    appointment.slot = new_slot
    appointment.start, appointment.end = new_slot.start, new_slot.end
    appointment.confirmed_at = None
    try:
        with transaction.atomic():
            appointment.save(
                update_fields=[
                    "previous_slot",
                    "slot",
                    "start",
                    "end",
                    "status",
                    "confirmed_at",
                    "updated_at",
                ]
            )
    except IntegrityError as exc:
        raise _appointment_integrity_error(exc) from exc
    appointment_recorded(
        actor=actor,
        appointment=appointment,
        action="appointment.reschedule",
        before=before,
        event=APPOINTMENT_RESCHEDULED,
    )
    return appointment


@transaction.atomic
def appointment_update(
    *,
    actor: User,
    appointment_id: int,
    reason: str | None = None,
    notes: str | None = None,
) -> Appointment:
    """Patients may change the reason of an active appointment; clinicians the notes."""
    appointment = _locked_visible_appointment(actor, appointment_id)
    refused = []
    if notes is not None and actor.role == Role.PATIENT:
        refused.append("notes")
    if reason is not None and actor.role in CLINICIAN_ROLES:
        refused.append("reason")
    if refused:
        raise FieldNotEditable(details={"fields": refused})
    before = appointment_state(appointment)
    changed = []
    if reason is not None and reason != appointment.reason:
        if not appointment.is_active:
            raise AppointmentNotActive(details={"status": appointment.status})
        appointment.reason = reason
        changed.append("reason")
    if notes is not None and notes != appointment.notes:
        appointment.notes = notes
        changed.append("notes")
    if changed:
        appointment.save(update_fields=[*changed, "updated_at"])
        appointment_recorded(
            actor=actor,
            appointment=appointment,
            action="appointment.update",
            before=before,
            event=APPOINTMENT_UPDATED,
        )
    return appointment
