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

from scheduling.errors import SlotFull, SlotUnavailable
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
    if slot.seats_taken >= slot.capacity:
        slot.status = Slot.Status.BOOKED
    return seat


def seat_free(slot: Slot) -> None:
    """One seat of ``slot`` is given back: a booked slot opens again (a blocked or
    withdrawn one keeps its status)."""
    slot.seats_taken = max(slot.seats_taken - 1, 0)
    if slot.status == Slot.Status.BOOKED:
        slot.status = Slot.Status.OPEN
