"""The waitlist reacts to scheduling through its events (scheduling never imports us).

Inside the writer's transaction (``core.outbox.on_publish``), so a freed slot and its offer
commit together and a restart loses nothing:

* ``appointment.cancelled``: the seat freed is offered to the next matching entry;
* ``appointment.rescheduled``: the old slot likewise, and the move may fulfil an entry;
* ``appointment.scheduled``: the patient's entry for that clinician ends when the booking
  falls in its window, and a live offer of this slot is accepted by it;
* ``slot.published``: new availability is offered.

Each costs one indexed query when nobody waits (``selectors.clinician_has_waiting``, or
the patient's active entry for the booking). After commit, at least once
(``core.outbox.subscriber``): the offer's email, and settling a live offer of another slot
whose entry a booking has just fulfilled (it is never locked from inside a booking: the
lock order is slot → offer → entry).
"""

from __future__ import annotations

from core.models import OutboxEvent
from core.outbox import on_publish, subscriber
from scheduling.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_RESCHEDULED,
    APPOINTMENT_SCHEDULED,
    SLOT_PUBLISHED,
)
from waitlist.notify import offer_notify
from waitlist.selectors import clinician_has_waiting
from waitlist.services import (
    WAITLIST_FULFILLED,
    WAITLIST_OFFERED,
    entries_fulfil_on_booking,
    offers_settle_for_entry,
    slot_offer_next,
    slots_offer,
)


@on_publish(APPOINTMENT_CANCELLED, name="waitlist.offer_freed_seat")
def offer_on_cancellation(event: OutboxEvent) -> None:
    payload = event.payload
    if clinician_has_waiting(payload["clinician_id"]):
        slot_offer_next(slot_id=payload["slot_id"])


@on_publish(APPOINTMENT_RESCHEDULED, name="waitlist.offer_left_slot")
def offer_on_reschedule(event: OutboxEvent) -> None:
    payload = event.payload
    entries_fulfil_on_booking(payload=payload)
    previous = payload.get("previous_slot_id")
    if previous is not None and clinician_has_waiting(payload["clinician_id"]):
        slot_offer_next(slot_id=previous)


@on_publish(APPOINTMENT_SCHEDULED, name="waitlist.fulfil_on_booking")
def fulfil_on_booking(event: OutboxEvent) -> None:
    entries_fulfil_on_booking(payload=event.payload)


@on_publish(SLOT_PUBLISHED, name="waitlist.offer_new_slots")
def offer_new_slots(event: OutboxEvent) -> None:
    payload = event.payload
    if clinician_has_waiting(payload["clinician_id"]):
        slots_offer(clinician_id=payload["clinician_id"], slot_ids=payload["slot_ids"])


@subscriber(WAITLIST_OFFERED, name="waitlist.offer_email")
def email_on_offer(event: OutboxEvent) -> None:
    offer_notify(event=event)


@subscriber(WAITLIST_FULFILLED, name="waitlist.settle_offers")
def settle_on_fulfilment(event: OutboxEvent) -> None:
    offers_settle_for_entry(entry_id=event.payload["entry_id"])
