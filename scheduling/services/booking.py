"""Booking a slot: the hot path. One slot lock (with its clinician and policy in the same
query), one UPDATE of the slot (its status and seat count), one INSERT of the
appointment. A group slot (``capacity`` > 1) with a seat already held adds one query:
the seats held, to take the lowest free one (``services.seats``).

The application checks give the friendly 409; on PostgreSQL the constraints of
``scheduling.models`` make the same rules true even if a check were ever missed, and
their violations are mapped to the same errors here.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from core.db import is_postgres
from core.errors import DomainError
from core.metrics import count_on_commit
from core.sql import insert_row, statements_together, update_row
from scheduling.errors import PatientOverlap, SlotNotFound, SlotUnavailable
from scheduling.events import APPOINTMENT_SCHEDULED, appointment_recorded
from scheduling.lock_objects import person_lock, slot_lock_for_booking
from scheduling.metrics import BOOKING_CONFLICTS, BOOKINGS
from scheduling.models import Appointment, AppointmentSeries, Slot
from scheduling.selectors import patient_overlapping_appointments
from scheduling.services._common import constraint_name, require_role
from scheduling.services.policy import booking_policy_from_overrides, check_bookable
from scheduling.services.seats import (
    check_hold,
    check_seat_left,
    seat_take,
    slot_taken_error,
)

# One live appointment per seat of a slot (on a one-seat slot: per slot), one seat per
# patient of a slot, and no seat beyond the capacity (a trigger; scheduling migration 0002).
ACTIVE_PER_SLOT_CONSTRAINT = "uniq_active_appointment_per_slot"
PATIENT_PER_SLOT_CONSTRAINT = "uniq_active_patient_per_slot"
SEAT_CAPACITY_CONSTRAINT = "appointment_seat_within_capacity"
PATIENT_OVERLAP_CONSTRAINT = "no_overlapping_active_appointments_per_patient"


def _database_refuses_patient_overlap() -> bool:
    """On PostgreSQL the exclusion constraint refuses a patient's overlapping bookings, so
    a booking inserts and lets it decide (no lock, no pre-check query); SQLite, the
    demo database, has no such constraint, so the booking checks first there."""
    return is_postgres(transaction.get_connection())


def appointment_integrity_error(exc: IntegrityError, *, slot: Slot | None = None) -> DomainError:
    """The 409 for an appointment constraint the database enforced; any other
    integrity error is a bug and propagates unchanged. SQLite names the columns.

    A seat taken is ``slot_full`` on a group ``slot``, ``slot_unavailable`` on a one-seat
    slot; a second seat of one patient is ``patient_overlap``."""
    name = constraint_name(exc)
    if PATIENT_OVERLAP_CONSTRAINT in name or PATIENT_PER_SLOT_CONSTRAINT in name:
        BOOKING_CONFLICTS.inc()
        return PatientOverlap()
    if "slot_id" in name and "patient_id" in name:  # SQLite: the (slot, patient) index
        BOOKING_CONFLICTS.inc()
        return PatientOverlap()
    taken = ACTIVE_PER_SLOT_CONSTRAINT in name or SEAT_CAPACITY_CONSTRAINT in name
    if taken or "slot_id" in name:
        BOOKING_CONFLICTS.inc()
        return slot_taken_error(slot) if slot is not None else SlotUnavailable()
    raise exc


def check_patient_free(patient_id: int, slot: Slot, *, exclude_id: int | None = None) -> None:
    """Refuse when the patient already has an active appointment overlapping ``slot``."""
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


# What a new appointment's INSERT writes (core.sql.insert_row: built once per process).
_NEW_APPOINTMENT_FIELDS = tuple(
    field.attname for field in Appointment._meta.concrete_fields if not field.primary_key
)


def _create_appointment(*, slot: Slot, **fields: Any) -> Appointment:
    """INSERT the appointment. A constraint's refusal is its 409; the transaction is then
    aborted, so the caller only raises it on (no savepoint: two round trips a booking)."""
    appointment = Appointment(slot=slot, **fields)
    try:
        insert_row(appointment, _NEW_APPOINTMENT_FIELDS)
    except IntegrityError as exc:
        raise appointment_integrity_error(exc, slot=slot) from exc
    return appointment


def appointment_book(
    *, patient: User, slot_id: int, reason: str = "", actor: User | None = None
) -> Appointment:
    """Book a seat of an open slot for ``patient``: lock the slot, check policy and
    overlap, take the lowest free seat, insert.

    ``actor`` is who asks: the patient (the default) or a staff member booking on the
    patient's behalf (the front desk: the API with ``patient``, the admin's booking
    page). Anyone else is refused (403 ``role_not_allowed``). The audit row names the
    actor, and the patient when someone else booked for them; the patient gets the same
    confirmation either way. The appointment comes back with its slot, patient and
    clinician loaded.
    """
    try:
        return _book(patient=patient, slot_id=slot_id, reason=reason, actor=actor or patient)
    except _RefusedOverlap as refused:
        # PostgreSQL's exclusion constraint found the clash; with the booking rolled
        # back, name the appointments it clashed with.
        clashes = _patient_clashes(patient.pk, refused.slot)
        raise PatientOverlap(details={"appointments": clashes}) from refused


class _RefusedOverlap(Exception):
    def __init__(self, slot: Slot) -> None:
        super().__init__(slot)
        self.slot = slot


def check_booking_actor(actor: User, patient: User) -> None:
    """A patient books for themselves; staff for any patient."""
    if actor.pk != patient.pk:
        require_role(actor, Role.STAFF)
    require_role(patient, Role.PATIENT)


@transaction.atomic
def _book(*, patient: User, slot_id: int, reason: str, actor: User) -> Appointment:
    check_booking_actor(actor, patient)
    locked = slot_lock_for_booking(slot_id)
    if locked is None:
        raise SlotNotFound(details={"slot": slot_id})
    slot, overrides = locked
    now = timezone.now()
    check_hold(slot, patient_id=patient.pk, now=now)
    check_seat_left(slot)
    check_bookable(slot, now=now, policy=booking_policy_from_overrides(*overrides))
    if not _database_refuses_patient_overlap():
        check_patient_free(patient.pk, slot)
    try:
        return seat_book(slot, patient=patient, actor=actor, reason=reason)
    except PatientOverlap as overlap:
        raise _RefusedOverlap(slot) from overlap


def seat_book(
    slot: Slot,
    *,
    patient: User,
    actor: User,
    reason: str,
    series: AppointmentSeries | None = None,
) -> Appointment:
    """The write of every booking (single, series occurrence) on a slot already locked
    and checked: the lowest free seat, the slot's one UPDATE, the appointment's INSERT (a
    constraint's refusal is its 409 and aborts the transaction), the audit row and
    ``appointment.scheduled``.

    On PostgreSQL the slot's UPDATE goes in one statement with the appointment's INSERT,
    and the audit row and the event with the next write (the consultation that
    ``appointment.scheduled`` creates): ``core.sql.statements_together``."""
    with statements_together():
        return _seat_write(slot, patient=patient, actor=actor, reason=reason, series=series)


def _seat_write(
    slot: Slot, *, patient: User, actor: User, reason: str, series: AppointmentSeries | None
) -> Appointment:
    seat = seat_take(slot)  # 1 on a one-seat slot, without a query
    update_row(slot, ["status", "seats_taken", "held_for", "held_until"])
    # the answer names the clinician: keep the one the booking lock loaded, if it did
    clinician: dict[str, Any] = (
        {"clinician": slot.clinician}
        if Slot.clinician.is_cached(slot)
        else {"clinician_id": slot.clinician_id}
    )
    appointment = _create_appointment(
        slot=slot,
        seat=seat,
        patient=patient,
        start=slot.start,
        end=slot.end,
        reason=reason,
        series=series,
        **clinician,
    )
    metadata: dict[str, int] = {}
    if series is not None:
        metadata["series_id"] = series.pk
    if actor.pk != patient.pk:  # the front desk: the row names the patient it acted for
        metadata["patient_id"] = patient.pk
    appointment_recorded(
        actor=actor,
        appointment=appointment,
        action="appointment.book",
        before=None,
        event=APPOINTMENT_SCHEDULED,
        metadata=metadata or None,
    )
    count_on_commit(BOOKINGS)
    return appointment
