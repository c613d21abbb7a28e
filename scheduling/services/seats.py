"""The seats of a slot: taken when an appointment books or moves in, freed when it is
cancelled or moves out. Every function here runs under the slot's row lock
(``lock_objects``) and changes the slot in memory; the caller saves ``status`` and
``seats_taken`` in its one UPDATE of the slot.

A one-seat slot (the common visit) costs nothing extra: its seat is 1. A group slot
asks the database for the seats held, once, to take the lowest free one. The counter
``seats_taken`` serves reads (``seats_left`` without a join); the hard limit is in the
database (PostgreSQL): a seat is unique per slot among live appointments and a trigger
refuses a seat beyond the capacity (scheduling migration 0002).
"""

from __future__ import annotations

from datetime import datetime

from scheduling.errors import SlotFull, SlotHeld, SlotUnavailable
from scheduling.metrics import BOOKING_CONFLICTS
from scheduling.models import Appointment, Slot


def slot_taken_error(slot: Slot) -> SlotUnavailable:
    """The 409 for a slot with no seat left: ``slot_full`` for a group slot,
    ``slot_unavailable`` for a one-seat slot (as before group sessions)."""
    details = {"slot": slot.pk, "slot_status": slot.status}
    if slot.capacity > 1:
        return SlotFull(details={**details, "capacity": slot.capacity})
    return SlotUnavailable(details=details)


def check_seat_left(slot: Slot) -> None:
    """Refuse a group slot with every seat taken (``slot_full``). The other statuses
    (and a taken one-seat slot) are the booking policy's ``slot_unavailable``."""
    if slot.capacity > 1 and (
        slot.status == Slot.Status.BOOKED or slot.seats_taken >= slot.capacity
    ):
        BOOKING_CONFLICTS.inc()
        raise slot_taken_error(slot)


def _held_seats(slot: Slot) -> set[int]:
    held = Appointment.objects.filter(slot_id=slot.pk).exclude(status=Appointment.Status.CANCELLED)
    return set(held.values_list("seat", flat=True))


def seat_take(slot: Slot) -> int:
    """The lowest free seat of ``slot`` for a new holder; the slot counts it and becomes
    ``booked`` when it is full. Raises the slot's 409 when no seat is free."""
    if slot.seats_taken == 0:
        seat = 1  # no query: nobody holds a seat (always so for a free one-seat slot)
    else:
        held = _held_seats(slot)
        free = (n for n in range(1, slot.capacity + 1) if n not in held)
        found = next(free, None)
        if found is None:
            BOOKING_CONFLICTS.inc()
            raise slot_taken_error(slot)
        seat = found
        slot.seats_taken = len(held)  # the rows are the truth: a stale counter heals here
    slot.seats_taken += 1
    seats_status(slot)
    return seat


def seat_free(slot: Slot) -> None:
    """One seat of ``slot`` is given back: a booked slot opens again (a blocked or
    withdrawn one keeps its status)."""
    slot.seats_taken = max(slot.seats_taken - 1, 0)
    seats_status(slot)


_SEAT_STATUSES = (Slot.Status.OPEN, Slot.Status.HELD, Slot.Status.BOOKED)


def seats_status(slot: Slot, now: datetime | None = None) -> None:
    """Set an open, held or booked slot's status from its seats and hold: ``booked``
    with every seat taken, ``held`` when a live hold keeps its last free seat, else
    ``open``. A blocked or withdrawn slot keeps its status."""
    if slot.status not in _SEAT_STATUSES:
        return
    held = 1 if slot.hold_live(now) else 0
    if slot.seats_taken >= slot.capacity:
        slot.status = Slot.Status.BOOKED
    elif slot.seats_taken + held >= slot.capacity:
        slot.status = Slot.Status.HELD
    else:
        slot.status = Slot.Status.OPEN


def hold_clear(slot: Slot) -> None:
    """Forget ``slot``'s hold in memory (the caller saves); its status follows its seats."""
    slot.held_for_id = None
    slot.held_until = None
    seats_status(slot)


def check_hold(slot: Slot, *, patient_id: int, now: datetime) -> None:
    """Booking a slot under a hold. An expired hold is released here (the caller's UPDATE
    saves it); the held patient's booking consumes the hold; anyone else is refused
    ``slot_held`` when the hold keeps the slot's last free seat (a group slot with other
    seats free books them)."""
    if slot.held_until is None:
        return
    if not slot.hold_live(now) or slot.held_for_id == patient_id:
        hold_clear(slot)
        return
    if slot.status == Slot.Status.HELD:
        BOOKING_CONFLICTS.inc()
        raise SlotHeld(details={"slot": slot.pk})
