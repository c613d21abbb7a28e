"""Recurring series: a course of appointments with one clinician at the same local
wall-clock time every ``interval_weeks`` weeks.

A series is booked in ONE transaction. Its occurrences are found first (a read, no
lock), then every slot involved is locked in ascending id order and the patient after
them (``lock_objects``: appointment → slots → persons), every occurrence is checked
with the single booking's own checks, and each bookable one is booked through the
single booking's core (``booking.book_locked_slot``: the same policy, seat, constraint
mapping, audit row and ``appointment.scheduled`` event). With ``on_conflict="fail"``
one unbookable occurrence books nothing (409 ``series_conflict`` listing every one);
with ``"skip"`` the others are booked and the unbookable ones are listed.

The occurrences keep the local time of the first slot in the zone of the slot's weekly
rule, else the clinician's own zone: across a daylight-saving change the UTC time moves
and the wall-clock time does not.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.audit import audit_record, fingerprint
from core.errors import DomainError
from core.outbox import event_publish
from core.serialization import api_datetime
from scheduling.errors import (
    AppointmentNotFound,
    InvalidSeries,
    PatientOverlap,
    SeriesConflict,
    SeriesNotActive,
    SeriesNotFound,
    SlotNotFound,
)
from scheduling.events import (
    SERIES_CANCELLED,
    SERIES_CREATED,
    appointment_state,
)
from scheduling.lifecycle import appointment_transition_check
from scheduling.lock_objects import appointments_lock, person_lock, series_lock, slots_lock
from scheduling.metrics import BOOKING_CONFLICTS
from scheduling.models import Appointment, AppointmentSeries, Slot
from scheduling.selectors import patient_overlapping_appointments, series_visible_to
from scheduling.services.appointments import cancel_write
from scheduling.services.booking import check_booking_actor, seat_book
from scheduling.services.policy import BookingPolicy, booking_policy_for, check_bookable
from scheduling.services.seats import check_seat_left

MIN_INTERVAL_WEEKS, MAX_INTERVAL_WEEKS = 1, 4
MIN_COUNT, MAX_COUNT = 2, 26
NO_SLOT = "no_slot"
OnConflict = AppointmentSeries.OnConflict


@dataclass(frozen=True)
class Occurrence:
    """One planned date of a series: its position, its start, the slot found there."""

    index: int
    start: datetime
    slot_id: int | None


@dataclass
class SeriesBooking:
    """What ``series_book`` did: the series, its appointments, the occurrences skipped."""

    series: AppointmentSeries
    appointments: list[Appointment] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def series_time_zone(slot: Slot) -> zoneinfo.ZoneInfo:
    """The zone whose wall clock a series keeps: the slot's weekly rule's, else the
    clinician's own (``User.time_zone``, which rules default to)."""
    if slot.rule_id is not None and slot.rule is not None:
        return zoneinfo.ZoneInfo(slot.rule.time_zone)
    return slot.clinician.tzinfo


def series_starts(
    first: datetime, zone: zoneinfo.ZoneInfo, *, interval_weeks: int, count: int
) -> list[datetime]:
    """The UTC starts of ``count`` occurrences every ``interval_weeks`` weeks at the local
    wall-clock time of ``first`` in ``zone``.

    A local time the clocks skip that day (spring forward) has no start of its own: it
    is given as Python reads it (the offset before the gap), where no slot starts, so it
    comes out as ``no_slot``. An ambiguous one (autumn fold) keeps the fold of ``first``.
    """
    local = first.astimezone(zone)
    wall, fold = local.replace(tzinfo=None), local.fold
    starts = []
    for index in range(count):
        moment = (wall + timedelta(weeks=interval_weeks * index)).replace(tzinfo=zone, fold=fold)
        starts.append(moment.astimezone(UTC))
    return starts


def _check_shape(*, interval_weeks: int, count: int, on_conflict: str) -> None:
    problems: dict[str, str] = {}
    if not MIN_INTERVAL_WEEKS <= interval_weeks <= MAX_INTERVAL_WEEKS:
        problems["interval"] = f"Use {MIN_INTERVAL_WEEKS}-{MAX_INTERVAL_WEEKS} weeks."
    if not MIN_COUNT <= count <= MAX_COUNT:
        problems["count"] = f"Use {MIN_COUNT}-{MAX_COUNT} occurrences."
    if on_conflict not in OnConflict.values:
        problems["on_conflict"] = "Use fail or skip."
    if problems:
        raise InvalidSeries(details={"fields": problems})


def _plan(first: Slot, *, interval_weeks: int, count: int) -> list[Occurrence]:
    """Each occurrence's start and the live slot of the clinician starting then."""
    starts = series_starts(
        first.start, series_time_zone(first), interval_weeks=interval_weeks, count=count
    )
    found = dict(
        Slot.objects.filter(clinician_id=first.clinician_id, start__in=starts)
        .exclude(status=Slot.Status.WITHDRAWN)
        .values_list("start", "pk")
    )
    found[first.start] = first.pk  # the first is the slot asked for, whatever its state
    return [Occurrence(index, start, found.get(start)) for index, start in enumerate(starts)]


def _refusal(
    slot: Slot | None,
    *,
    policy: BookingPolicy,
    busy: list[tuple[datetime, datetime]],
    now: datetime,
) -> str | None:
    """Why an occurrence cannot be booked (the single booking's error code), or None."""
    if slot is None:
        return NO_SLOT
    try:  # the single booking's checks, in its order
        check_seat_left(slot)
        check_bookable(slot, now=now, policy=policy)
    except DomainError as refusal:
        return str(refusal.code)
    if any(start < slot.end and slot.start < end for start, end in busy):
        BOOKING_CONFLICTS.inc()
        return str(PatientOverlap.code)
    return None


def _conflict(occurrence: Occurrence, code: str) -> dict[str, Any]:
    return {"index": occurrence.index, "start": api_datetime(occurrence.start, UTC), "code": code}


@transaction.atomic
def series_book(
    *,
    patient: User,
    slot_id: int,
    count: int,
    interval_weeks: int = 1,
    reason: str = "",
    on_conflict: str = OnConflict.FAIL,
    actor: User | None = None,
) -> SeriesBooking:
    """Book ``count`` occurrences of ``slot_id``'s local start every ``interval_weeks``
    weeks for ``patient`` (``actor``: who asks; the patient unless staff act for them).

    Every occurrence is checked under the locks before anything is written, so the 409
    lists all the conflicts, not the first.
    """
    actor = actor or patient
    check_booking_actor(actor, patient)
    _check_shape(interval_weeks=interval_weeks, count=count, on_conflict=on_conflict)
    first = Slot.objects.select_related("clinician", "rule").filter(pk=slot_id).first()
    if first is None:
        raise SlotNotFound(details={"slot": slot_id})
    plan = _plan(first, interval_weeks=interval_weeks, count=count)
    locked = slots_lock(o.slot_id for o in plan if o.slot_id is not None)
    person_lock(patient.pk)  # after the slots: lock_objects' order
    busy = list(
        patient_overlapping_appointments(
            patient_id=patient.pk, start=plan[0].start, end=plan[-1].start + timedelta(days=1)
        ).values_list("start", "end")
    )
    now, policy = timezone.now(), booking_policy_for(first.clinician_id)
    conflicts: list[dict[str, Any]] = []
    bookable: list[tuple[Occurrence, Slot]] = []
    for occurrence in plan:
        slot = locked.get(occurrence.slot_id) if occurrence.slot_id is not None else None
        code = _refusal(slot, policy=policy, busy=busy, now=now)
        if code is None and slot is not None:
            bookable.append((occurrence, slot))
        else:
            conflicts.append(_conflict(occurrence, code or NO_SLOT))
    if conflicts and (on_conflict == OnConflict.FAIL or not bookable):
        raise SeriesConflict(details={"conflicts": conflicts})
    series = AppointmentSeries.objects.create(
        patient=patient,
        clinician_id=first.clinician_id,
        interval_weeks=interval_weeks,
        count=count,
        first_start=first.start,
        time_zone=str(series_time_zone(first)),
        reason=reason,
        on_conflict=on_conflict,
        skipped=conflicts,
        created_by=actor,
    )
    booked = SeriesBooking(series=series, skipped=list(conflicts))
    for occurrence, slot in bookable:
        try:
            with transaction.atomic():  # a savepoint: a refused occurrence undoes only itself
                appointment = seat_book(
                    slot, patient=patient, actor=actor, reason=reason, series=series
                )
        except DomainError as refusal:
            # Checked under the locks above, so only a concurrent single booking of this
            # patient elsewhere (PostgreSQL's exclusion constraint refuses it, no lock)
            # lands here.
            late = _conflict(occurrence, str(refusal.code))
            if on_conflict == OnConflict.FAIL:
                raise SeriesConflict(details={"conflicts": [late]}) from refusal
            booked.skipped.append(late)
            continue
        booked.appointments.append(appointment)
    if not booked.appointments:
        raise SeriesConflict(details={"conflicts": booked.skipped})
    if len(booked.skipped) != len(conflicts):
        booked.skipped.sort(key=lambda row: row["index"])
        series.skipped = booked.skipped
        series.save(update_fields=["skipped"])
    _series_recorded(
        actor=actor,
        series=series,
        action="series.create",
        event=SERIES_CREATED,
        appointments=booked.appointments,
        metadata={"reason": fingerprint(reason) if reason else None},
    )
    return booked


def _series_recorded(
    *,
    actor: User,
    series: AppointmentSeries,
    action: str,
    event: str,
    appointments: list[Appointment],
    metadata: dict[str, Any] | None = None,
) -> None:
    """The series' audit row and outbox event (ids, times and counts; never free text)."""
    payload = {
        "series_id": series.pk,
        "patient_id": series.patient_id,
        "clinician_id": series.clinician_id,
        "interval_weeks": series.interval_weeks,
        "count": series.count,
        "status": series.status,
        "appointment_ids": [appointment.pk for appointment in appointments],
        "starts": [api_datetime(appointment.start, UTC) for appointment in appointments],
        "skipped": series.skipped,
        "actor_id": actor.pk,
    }
    audit_record(
        actor=actor,
        action=action,
        obj=series,
        changes={"status": {"before": None, "after": series.status}}
        if event == SERIES_CREATED
        else None,
        metadata={
            **(metadata or {}),
            "patient_id": series.patient_id,
            "appointment_ids": payload["appointment_ids"],
            "skipped": series.skipped,
        },
    )
    event_publish(
        name=event, payload=payload, aggregate=("scheduling.appointmentseries", series.pk)
    )


@transaction.atomic
def series_cancel(
    *, actor: User, series_id: int, from_appointment_id: int | None = None, reason: str = ""
) -> tuple[AppointmentSeries, list[Appointment]]:
    """Cancel the series' active occurrences from ``from_appointment_id`` on (that one and
    every later one), or all of them. Each is cancelled as ``appointment_cancel`` would
    (the lifecycle's check, one seat freed, audit row, ``appointment.cancelled``); one
    refusal (a patient past the cut-off) cancels nothing."""
    series = series_lock(series_id, queryset=series_visible_to(actor))
    if series is None:
        raise SeriesNotFound()
    occurrences = list(series.appointments.order_by("start", "pk"))
    if from_appointment_id is not None:
        start_at = next((a for a in occurrences if a.pk == from_appointment_id), None)
        if start_at is None:
            raise AppointmentNotFound(details={"from": from_appointment_id})
        occurrences = [a for a in occurrences if (a.start, a.pk) >= (start_at.start, start_at.pk)]
    targets = [a.pk for a in occurrences if a.is_active]
    if not targets:
        raise SeriesNotActive(details={"series": series.pk})
    appointments = appointments_lock(targets)  # lock order: appointments → slots
    slots = slots_lock(a.slot_id for a in appointments.values())
    now = timezone.now()
    ordered = sorted(appointments.values(), key=lambda a: (a.start, a.pk))
    for appointment in ordered:  # every refusal before any change
        appointment_transition_check(
            appointment, Appointment.Status.CANCELLED, actor=actor, now=now
        )
    for appointment in ordered:
        cancel_write(
            appointment,
            slots[appointment.slot_id],
            actor=actor,
            now=now,
            reason=reason,
            before=appointment_state(appointment),
            metadata={"series_id": appointment.series_id},
            # the series' own event mails once for all of them (notifications)
            payload_extra={"series_cancel": True},
        )
    if not series.appointments.filter(status__in=Appointment.ACTIVE_STATUSES).exists():
        series.status = AppointmentSeries.Status.CANCELLED
        series.cancelled_at = now
        series.cancelled_by = actor
        series.save(update_fields=["status", "cancelled_at", "cancelled_by"])
    _series_recorded(
        actor=actor,
        series=series,
        action="series.cancel",
        event=SERIES_CANCELLED,
        appointments=ordered,
        metadata={"from_appointment_id": from_appointment_id, "reason_given": bool(reason)},
    )
    return series, ordered
