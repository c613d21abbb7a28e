"""Holds: one seat of a slot kept for one patient until a time (a waitlist offer).

The hold lives on the slot's row (``held_for``, ``held_until``; a constraint keeps both
set or neither), so a restart loses nothing and no timer is needed: a hold past
``held_until`` binds nobody, and the booking check treats it as released even before
``slot_release`` (a sweep) clears it. While a live hold keeps a slot's last free seat the
slot is ``held``: hidden from ``status=open`` and booked only by the held patient
(``services.seats.check_hold``; anyone else is 409 ``slot_held``). A group slot with
other seats free stays ``open`` with one seat fewer left.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from core.audit import audit_record
from core.errors import InvalidRequest
from core.outbox import event_publish
from core.sql import update_row
from scheduling.errors import PatientOverlap, SlotHeld, SlotNotFound, SlotUnavailable
from scheduling.lock_objects import slots_lock
from scheduling.models import Appointment, Slot
from scheduling.services._common import require_role
from scheduling.services.seats import hold_clear, seats_status

SLOT_HELD = "slot.held"
SLOT_RELEASED = "slot.released"

_HOLD_FIELDS = ["status", "held_for", "held_until"]


def hold_deadline(now: datetime | None = None) -> datetime:
    """When a hold made now ends: ``WAITLIST_HOLD_SECONDS`` from ``now``."""
    return (now or timezone.now()) + timedelta(seconds=settings.WAITLIST_HOLD_SECONDS)


def _locked(slot_id: int) -> Slot:
    slot = slots_lock([slot_id]).get(slot_id)
    if slot is None:
        raise SlotNotFound(details={"slot": slot_id})
    return slot


@transaction.atomic
def slot_hold(
    *, slot_id: int, patient: User, until: datetime | None = None, actor: User | None = None
) -> Slot:
    """Hold one seat of an open future slot for ``patient`` until ``until`` (default:
    ``hold_deadline()``), under the slot's row lock. Refused: a slot that is not open or
    has no seat left (409 ``slot_unavailable``), a slot under another live hold (409
    ``slot_held``), a patient already holding a seat of it (409 ``patient_overlap``).
    ``actor`` is who acts for the audit row (None: the system, e.g. the waitlist)."""
    return slot_hold_locked(_locked(slot_id), patient=patient, until=until, actor=actor)


def slot_hold_locked(
    slot: Slot, *, patient: User, until: datetime | None = None, actor: User | None = None
) -> Slot:
    """``slot_hold`` on a slot the caller has locked already (``slot`` is that row, read
    under the lock, its hold fields included): no second lock or read of the slot, and
    no savepoint. Every refusal is raised before anything is written, so a caller that
    catches it has changed nothing. The UPDATE is ``core.sql.update_row``: inside a
    ``core.sql.statements_together`` block it goes out with the block's next write,
    like the hold's ``slot.held`` audit row and event."""
    require_role(patient, Role.PATIENT)
    now = timezone.now()
    until = until if until is not None else hold_deadline(now)
    if until <= now:
        raise InvalidRequest("A hold must end in the future.", code="invalid_hold")
    if slot.held_until is not None and not slot.hold_live(now):
        hold_clear(slot)  # expired: released here, saved below
    if slot.hold_live(now):
        raise SlotHeld(details={"slot": slot.pk})
    if slot.status != Slot.Status.OPEN or slot.seats_left < 1 or slot.start <= now:
        raise SlotUnavailable(details={"slot": slot.pk, "slot_status": slot.status})
    if slot.capacity > 1 and _holds_a_seat(slot, patient.pk):
        raise PatientOverlap(details={"slot": slot.pk})
    slot.held_for_id = patient.pk
    slot.held_until = until
    seats_status(slot, now)
    update_row(slot, _HOLD_FIELDS)
    _recorded(slot, action=SLOT_HELD, actor=actor, patient_id=patient.pk, until=until)
    return slot


def _holds_a_seat(slot: Slot, patient_id: int) -> bool:
    live = Appointment.objects.filter(slot_id=slot.pk, patient_id=patient_id)
    return live.exclude(status=Appointment.Status.CANCELLED).exists()


@transaction.atomic
def slot_release(*, slot_id: int, actor: User | None = None) -> Slot:
    """Release ``slot``'s hold (live or expired): its status follows its seats again
    (``open``, or ``booked`` if full). A slot without a hold is left as it is (no audit
    row, no event), so a release is safe to repeat."""
    slot = _locked(slot_id)
    if slot.held_until is None:
        return slot
    patient_id = slot.held_for_id
    hold_clear(slot)
    slot.save(update_fields=_HOLD_FIELDS)
    _recorded(slot, action=SLOT_RELEASED, actor=actor, patient_id=patient_id, until=None)
    return slot


def _recorded(
    slot: Slot, *, action: str, actor: User | None, patient_id: int | None, until: datetime | None
) -> None:
    """The audit row and event of a hold or release: ids and the deadline only."""
    metadata: dict[str, int | str | None] = {"patient_id": patient_id, "status": slot.status}
    if until is not None:
        metadata["held_until"] = until.isoformat()
    audit_record(actor=actor, action=action, obj=slot, metadata=metadata)
    event_publish(
        name=action,
        payload={
            "slot_id": slot.pk,
            "clinician_id": slot.clinician_id,
            "patient_id": patient_id,
            "actor_id": getattr(actor, "pk", None),
        },
        aggregate=("scheduling.slot", slot.pk),
    )
