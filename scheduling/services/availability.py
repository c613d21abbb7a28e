"""Publishing and withdrawing availability: a clinician's one-off slots."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, ClinicianProfile, Hospital, Role, User
from scheduling.errors import InvalidAvailability, SlotBooked, SlotNotFound, SlotOverlap
from scheduling.events import slots_published, slots_recorded
from scheduling.lock_objects import person_lock, slots_lock
from scheduling.models import MAX_CAPACITY, Mode, Slot
from scheduling.selectors import slots_overlapping
from scheduling.services._common import constraint_name, require_role

# Bounds that keep one request small and every datetime computation far from overflow.
MAX_SLOTS_PER_REQUEST = 500
MAX_PUBLISH_AHEAD = timedelta(days=730)
MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 480

SLOT_OVERLAP_CONSTRAINT = "slot_no_overlap_per_clinician"

Interval = tuple[datetime, datetime]


def _check_window(start: datetime, end: datetime, *, now: datetime) -> None:
    problems: dict[str, Any] = {}
    if timezone.is_naive(start) or timezone.is_naive(end):
        problems["offset"] = "Times need a UTC offset."
    elif end <= start:
        problems["end"] = "The end must be after the start."
    elif start <= now:
        problems["start"] = "The start must be in the future."
    elif end > now + MAX_PUBLISH_AHEAD:
        problems["end"] = f"Publish at most {MAX_PUBLISH_AHEAD.days} days ahead."
    if problems:
        raise InvalidAvailability(details={"fields": problems})


def _split(start: datetime, end: datetime, slot_minutes: int | None) -> list[Interval]:
    if slot_minutes is None:
        return [(start, end)]
    if not MIN_SLOT_MINUTES <= slot_minutes <= MAX_SLOT_MINUTES:
        raise InvalidAvailability(
            details={"fields": {"slot_minutes": f"Use {MIN_SLOT_MINUTES}-{MAX_SLOT_MINUTES}."}}
        )
    length = timedelta(minutes=slot_minutes)
    count = int((end - start) / length)
    if count == 0:
        raise InvalidAvailability(
            details={"fields": {"slot_minutes": "The range is shorter than one slot."}}
        )
    if count > MAX_SLOTS_PER_REQUEST:
        raise InvalidAvailability(
            details={"fields": {"slot_minutes": f"At most {MAX_SLOTS_PER_REQUEST} slots at once."}}
        )
    # A remainder shorter than one slot is left unpublished.
    return [(start + i * length, start + (i + 1) * length) for i in range(count)]


def check_capacity(capacity: int) -> None:
    """A slot seats 1 (a one-to-one visit) to ``MAX_CAPACITY`` (a group session)."""
    if isinstance(capacity, bool) or not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidAvailability(
            details={"fields": {"capacity": f"Use an integer from 1 to {MAX_CAPACITY}."}}
        )


def default_hospital(clinician: User, mode: str) -> Hospital | None:
    """Where an in-person slot takes place when the clinician names no hospital."""
    if mode != Mode.IN_PERSON:
        return None
    profile = ClinicianProfile.objects.filter(user_id=clinician.pk).select_related("hospital")
    first = profile.first()
    return first.hospital if first is not None else None


def insert_slots(slots: list[Slot]) -> list[Slot]:
    """Insert in a savepoint so the exclusion constraint's refusal becomes a clean 409."""
    try:
        with transaction.atomic():
            return Slot.objects.bulk_create(slots)
    except IntegrityError as exc:
        if SLOT_OVERLAP_CONSTRAINT in constraint_name(exc):
            raise SlotOverlap() from exc
        raise


@transaction.atomic
def slot_create(
    *,
    clinician: User,
    start: datetime,
    end: datetime,
    slot_minutes: int | None = None,
    mode: str = Mode.IN_PERSON,
    hospital: Hospital | None = None,
    capacity: int = 1,
) -> list[Slot]:
    """Publish availability: one slot, or ``[start, end)`` split into ``slot_minutes`` pieces,
    each with ``capacity`` seats (1, or up to ``MAX_CAPACITY`` for a group session).

    Any overlap with the clinician's live slots refuses the whole request (409).
    """
    require_role(clinician, *CLINICIAN_ROLES)
    now = timezone.now()
    _check_window(start, end, now=now)
    check_capacity(capacity)
    pieces = _split(start, end, slot_minutes)
    person_lock(clinician.pk)  # serialises this clinician's availability writes
    clashes = list(
        slots_overlapping(clinician_id=clinician.pk, start=start, end=end).values_list(
            "pk", flat=True
        )[:20]
    )
    if clashes:
        raise SlotOverlap(details={"conflicting_slots": clashes})
    hospital = hospital or default_hospital(clinician, mode)
    slots = insert_slots(
        [
            Slot(
                clinician=clinician, start=s, end=e, mode=mode, hospital=hospital, capacity=capacity
            )
            for s, e in pieces
        ]
    )
    slots_recorded(actor=clinician, action="slot.create", slots=slots)
    slots_published(clinician_id=clinician.pk, slots=slots)
    return slots


@transaction.atomic
def slot_withdraw(*, actor: User, slot_id: int) -> Slot:
    """Take a slot off the calendar. A slot with a seat held stays: cancel the
    appointments first."""
    require_role(actor, *CLINICIAN_ROLES, Role.STAFF)
    slot = slots_lock([slot_id]).get(slot_id)
    if slot is None or (actor.role != Role.STAFF and slot.clinician_id != actor.pk):
        raise SlotNotFound(details={"slot": slot_id})
    if slot.status == Slot.Status.BOOKED or slot.seats_taken > 0:
        raise SlotBooked(details={"slot": slot.pk, "seats_taken": slot.seats_taken})
    if slot.status != Slot.Status.WITHDRAWN:
        changes = {"status": {"before": slot.status, "after": Slot.Status.WITHDRAWN}}
        slot.status = Slot.Status.WITHDRAWN
        slot.save(update_fields=["status"])
        slots_recorded(actor=actor, action="slot.withdraw", slots=[slot], changes=changes)
    return slot
