"""Every row lock of the waitlist is taken here, always in one order.

The global order is scheduling's (series → appointments → slots, by id → person rows;
``scheduling.lock_objects``), then the waitlist's offers, then its entries. A waitlist
service that touches a slot locks the slot first, then the offer, then the entry, so it
never waits for a slot while holding a waitlist row: a booking (which holds its slot when
its ``appointment.scheduled`` handler locks the patient's entry) and an accept (slot,
offer, then the booking) can wait for each other but never deadlock.
"""

from __future__ import annotations

from django.db.models import QuerySet

from waitlist.models import WaitlistEntry, WaitlistOffer


def offer_lock(offer_id: int) -> WaitlistOffer | None:
    """Lock one offer (the caller holds its slot's lock already)."""
    return WaitlistOffer.objects.select_for_update(of=("self",)).filter(pk=offer_id).first()


def entry_lock(entry_id: int, *, skip_locked: bool = False) -> WaitlistEntry | None:
    """Lock one entry (after its offer's slot and the offer, if any). ``skip_locked``: None
    when another transaction holds it (an offer looking for a taker never waits)."""
    rows = WaitlistEntry.objects.select_for_update(of=("self",), skip_locked=skip_locked)
    return rows.filter(pk=entry_id).first()


def entries_lock(entries: QuerySet[WaitlistEntry]) -> list[WaitlistEntry]:
    """Lock the entries of ``entries`` in ascending id order."""
    return list(entries.select_for_update(of=("self",)).order_by("pk"))
