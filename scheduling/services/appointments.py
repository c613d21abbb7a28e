"""Changes to a booked appointment: cancel, confirm, complete, no-show, reschedule,
update. Each public function is one transaction and takes its row locks through
``lock_objects`` in the fixed order appointment → slots (by id) → person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, Role, User
from core.metrics import count_on_commit
from scheduling.errors import (
    AppointmentNotActive,
    AppointmentNotFound,
    FieldNotEditable,
    OtherClinician,
    SameSlot,
    SlotNotFound,
)
from scheduling.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_RESCHEDULED,
    APPOINTMENT_UPDATED,
    appointment_recorded,
    appointment_state,
)
from scheduling.lifecycle import appointment_transition_check, role_check
from scheduling.lock_objects import appointment_lock, slots_lock
from scheduling.metrics import CANCELLATIONS
from scheduling.models import Appointment, Slot
from scheduling.selectors import appointments_visible_to
from scheduling.services.booking import appointment_integrity_error, check_patient_free
from scheduling.services.policy import check_bookable
from scheduling.services.seats import check_seat_left, seat_free, seat_take

Status = Appointment.Status


def _move(appointment: Appointment, to: str, *, actor: User, now: datetime) -> None:
    """Apply one transition that ``scheduling.lifecycle`` allows, or raise its refusal."""
    appointment_transition_check(appointment, to, actor=actor, now=now)
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


@transaction.atomic
def appointment_cancel(*, actor: User, appointment_id: int, reason: str = "") -> Appointment:
    """Cancel and give the slot back to the calendar so someone else can book it."""
    appointment = _locked_visible_appointment(actor, appointment_id)
    before = appointment_state(appointment)
    now = timezone.now()
    _move(appointment, Status.CANCELLED, actor=actor, now=now)
    slot = _lock_one_slot(appointment.slot_id)
    cancel_write(appointment, slot, actor=actor, now=now, reason=reason, before=before)
    return appointment


def cancel_write(
    appointment: Appointment,
    slot: Slot,
    *,
    actor: User,
    now: datetime,
    reason: str,
    before: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    payload_extra: dict[str, Any] | None = None,
) -> None:
    """The write of every cancellation (one appointment, a series' occurrences) on rows
    already locked and checked: one seat back (a full slot opens again), the
    appointment's cancelled state, the audit row and ``appointment.cancelled``."""
    appointment.status = Status.CANCELLED
    seat_free(slot)
    slot.save(update_fields=["status", "seats_taken"])
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
        metadata=metadata,
        payload_extra=payload_extra,
    )
    count_on_commit(CANCELLATIONS)


@transaction.atomic
def appointment_confirm(*, actor: User, appointment_id: int) -> Appointment:
    role_check(Status.CONFIRMED, actor=actor)  # a role refusal comes before a 404
    appointment = _locked_visible_appointment(actor, appointment_id)
    before = appointment_state(appointment)
    now = timezone.now()
    _move(appointment, Status.CONFIRMED, actor=actor, now=now)
    appointment.confirmed_at = now
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
    role_check(to, actor=actor)  # a role refusal comes before a 404
    appointment = _locked_visible_appointment(actor, appointment_id)
    before = appointment_state(appointment)
    _move(appointment, to, actor=actor, now=timezone.now())
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

    The same checks as booking apply to the new slot, where it takes the lowest free
    seat; its seat of the old slot is freed, the old slot reopened and kept as
    ``previous_slot``.
    """
    appointment = _locked_visible_appointment(actor, appointment_id)
    before = appointment_state(appointment)
    now = timezone.now()
    _move(appointment, Status.SCHEDULED, actor=actor, now=now)
    if appointment.slot_id == new_slot_id:
        raise SameSlot(details={"slot": new_slot_id})
    locked = slots_lock([appointment.slot_id, new_slot_id])
    new_slot = locked.get(new_slot_id)
    if new_slot is None:
        raise SlotNotFound(details={"slot": new_slot_id})
    if new_slot.clinician_id != appointment.clinician_id:
        raise OtherClinician(details={"slot": new_slot_id})
    check_seat_left(new_slot)
    check_bookable(new_slot, now=now)
    check_patient_free(appointment.patient_id, new_slot, exclude_id=appointment.pk)
    old_slot = locked[appointment.slot_id]
    seat_free(old_slot)
    old_slot.status = Slot.Status.OPEN  # as before group sessions: the old slot reopens
    old_slot.save(update_fields=["status", "seats_taken"])
    appointment.seat = seat_take(new_slot)
    new_slot.save(update_fields=["status", "seats_taken"])
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
                    "seat",
                    "start",
                    "end",
                    "status",
                    "confirmed_at",
                    "updated_at",
                ]
            )
    except IntegrityError as exc:
        raise appointment_integrity_error(exc, slot=new_slot) from exc
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
