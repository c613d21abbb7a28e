"""Every row lock of scheduling is taken here, always in one order.

The order is: series → appointments (ascending id) → slots (ascending id) → person
rows (ascending id).
Every service that locks more than one kind of row follows it, so two transactions
can wait for each other but never deadlock. On SQLite ``select_for_update`` is a
no-op and the database serialises writers instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connections, router
from django.db.models import QuerySet

from accounts.models import User
from core.db import is_postgres
from core.sql import one_row
from scheduling.models import Appointment, AppointmentSeries, Slot


def appointment_lock(
    appointment_id: int, *, queryset: QuerySet[Appointment] | None = None
) -> Appointment | None:
    """Lock one appointment, taken from ``queryset`` (the caller's visible set)."""
    base = queryset if queryset is not None else Appointment.objects.all()
    return base.select_for_update().filter(pk=appointment_id).first()


def series_lock(
    series_id: int, *, queryset: QuerySet[AppointmentSeries] | None = None
) -> AppointmentSeries | None:
    """Lock one series, taken from ``queryset`` (the caller's visible set)."""
    base = queryset if queryset is not None else AppointmentSeries.objects.all()
    return base.select_for_update(of=("self",)).filter(pk=series_id).first()


def appointments_lock(appointment_ids: Iterable[int]) -> dict[int, Appointment]:
    """Lock appointments in ascending id order (a series' occurrences)."""
    ids = sorted(set(appointment_ids))
    rows = Appointment.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {appointment.pk: appointment for appointment in rows}


def slots_lock(slot_ids: Iterable[int]) -> dict[int, Slot]:
    """Lock slots in ascending id order; missing ids are simply absent from the result."""
    ids = sorted(set(slot_ids))
    rows = Slot.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {slot.pk: slot for slot in rows}


_SLOT_FIELDS = tuple(field.attname for field in Slot._meta.concrete_fields)
_CLINICIAN_FIELDS = ("first_name", "last_name", "role")
_POLICY_FIELDS = ("min_notice_minutes", "max_horizon_days")
_BOOKING_COLUMNS = (
    *_SLOT_FIELDS,
    *(f"clinician__{name}" for name in _CLINICIAN_FIELDS),
    *(f"clinician__clinician_profile__{name}" for name in _POLICY_FIELDS),
)


def _booking_row(slot_id: int) -> QuerySet[Slot, tuple[Any, ...]]:
    """The lock below as a queryset; on PostgreSQL ``core.sql.one_row`` compiles it once
    per process (docs/performance.md)."""
    rows = Slot.objects.select_for_update(of=("self",)).filter(pk=slot_id).order_by()
    return rows.values_list(*_BOOKING_COLUMNS)


def slot_lock_for_booking(slot_id: int) -> tuple[Slot, tuple[int | None, int | None]] | None:
    """Lock one slot to book it (``FOR UPDATE OF`` the slot only), or None if there is
    none. Its clinician's name and role (for the answer) and booking-policy overrides
    (minimum notice minutes, horizon days; None where unset or without a profile) come in
    the same query. ``slot.clinician`` holds only those fields. The slot comes whole, its
    hold (``held_for``, ``held_until``) included: the booking's hold check reads nothing
    more."""
    connection = connections[router.db_for_write(Slot)]
    if is_postgres(connection):  # its rows need none of the ORM's converters
        row = one_row(_booking_row, slot_id, alias=connection.alias)
    else:  # SQLite (the demo) stores times as text: the ORM converts them
        row = _booking_row(slot_id).using(connection.alias).first()
    if row is None:
        return None
    slots, people = len(_SLOT_FIELDS), len(_CLINICIAN_FIELDS)
    slot = Slot.from_db(connection.alias, _SLOT_FIELDS, row[:slots])
    person = (slot.clinician_id, *row[slots : slots + people])
    slot.clinician = User.from_db(connection.alias, ("id", *_CLINICIAN_FIELDS), person)
    minutes, days = row[slots + people :]
    return slot, (minutes, days)


def person_lock(user_id: int) -> None:
    """Serialise writes that check one person's calendar (a patient's or a clinician's).

    ``FOR NO KEY UPDATE`` so rows elsewhere that merely reference this user
    (foreign keys take ``FOR KEY SHARE``) are not blocked.
    """
    list(User.objects.select_for_update(no_key=True).filter(pk=user_id).values_list("pk"))
