"""Every row lock of the waitlist is taken here, always in one order.

The global order is scheduling's (series → appointments → slots, by id → person rows;
``scheduling.lock_objects``), then the waitlist's offers, then its entries. A waitlist
service that touches a slot locks the slot first, then the offer, then the entry, so it
never waits for a slot while holding a waitlist row: a booking (which holds its slot when
its ``appointment.scheduled`` handler locks the patient's entry) and an accept (slot,
offer, then the booking) can wait for each other but never deadlock.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.sql import first_row
from waitlist.models import WaitlistEntry, WaitlistOffer


def offer_lock(offer_id: int) -> WaitlistOffer | None:
    """Lock one offer (the caller holds its slot's lock already)."""
    return WaitlistOffer.objects.select_for_update(of=("self",)).filter(pk=offer_id).first()


def entry_lock(entry_id: int, *, skip_locked: bool = False) -> WaitlistEntry | None:
    """Lock one entry (after its offer's slot and the offer, if any). ``skip_locked``: None
    when another transaction holds it (an offer looking for a taker never waits)."""
    rows = WaitlistEntry.objects.select_for_update(of=("self",), skip_locked=skip_locked)
    return rows.filter(pk=entry_id).first()


def _free_entry_status(entry_id: Any) -> QuerySet[WaitlistEntry, Any]:
    rows = WaitlistEntry.objects.select_for_update(of=("self",), skip_locked=True)
    return rows.filter(pk=entry_id).values_list("status")


def entry_lock_free(entry_id: int) -> str | None:
    """``entry_lock(entry_id, skip_locked=True)`` reading only the entry's status, its
    statement compiled once per process (the offer path): None when another transaction
    holds the entry, or there is none."""
    row = first_row(_free_entry_status, entry_id, model=WaitlistEntry)
    return None if row is None else str(row[0])


def entries_lock(entries: QuerySet[WaitlistEntry]) -> list[WaitlistEntry]:
    """Lock the entries of ``entries`` in ascending id order."""
    return list(entries.select_for_update(of=("self",)).order_by("pk"))
