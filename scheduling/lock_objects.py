"""Every row lock of scheduling is taken here, always in one order.

The order is: appointment → slots (ascending id) → person rows (ascending id).
Every service that locks more than one kind of row follows it, so two transactions
can wait for each other but never deadlock. On SQLite ``select_for_update`` is a
no-op and the database serialises writers instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from accounts.models import User
from scheduling.models import Appointment, Slot


def appointment_lock(
    appointment_id: int, *, queryset: QuerySet[Appointment] | None = None
) -> Appointment | None:
    """Lock one appointment, taken from ``queryset`` (the caller's visible set)."""
    base = queryset if queryset is not None else Appointment.objects.all()
    return base.select_for_update().filter(pk=appointment_id).first()


def slots_lock(slot_ids: Iterable[int]) -> dict[int, Slot]:
    """Lock slots in ascending id order; missing ids are simply absent from the result."""
    ids = sorted(set(slot_ids))
    rows = Slot.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {slot.pk: slot for slot in rows}


def slot_lock_for_booking(slot_id: int) -> Slot | None:
    """Lock one slot to book it. Its clinician and their profile (the booking policy, the
    name in the answer) come in the same query, read but not locked (``FOR UPDATE OF``
    the slot only)."""
    rows = Slot.objects.select_for_update(of=("self",)).select_related(
        "clinician", "clinician__clinician_profile"
    )
    try:
        return rows.get(pk=slot_id)  # get(), not first(): no ORDER BY to compile and plan
    except Slot.DoesNotExist:
        return None


def person_lock(user_id: int) -> None:
    """Serialise writes that check one person's calendar (a patient's or a clinician's).

    ``FOR NO KEY UPDATE`` so rows elsewhere that merely reference this user
    (foreign keys take ``FOR KEY SHARE``) are not blocked.
    """
    list(User.objects.select_for_update(no_key=True).filter(pk=user_id).values_list("pk"))
