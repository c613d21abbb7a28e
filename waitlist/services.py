"""Waitlist writes: joining and leaving, offering a freed slot, accepting, declining, expiry.

Every function here is one transaction (or a short series of them, the sweep) with its
audit row and outbox event inside it, and takes row locks through ``lock_objects`` in the
global order: the slot (``scheduling.lock_objects.slots_lock``), then the offer, then the
entry.

Offers are made inside the transaction that freed the slot (``waitlist.events`` reacts to
scheduling's events with ``core.outbox.on_publish``): the cancellation and the offer with
its hold commit together or not at all, so a crash can never leave a freed slot that
nobody was offered, nor a hold without its offer, and nothing waits on a worker to be up.
The cost is on the writer's path and is kept to one indexed EXISTS when nobody waits for
the clinician (``selectors.clinician_has_waiting``). The email is sent after commit by
the outbox's subscriber of ``waitlist.offered`` (at least once, through
``notifications.services.notification_queue``), so no request waits for a mail server.

An offer's deadline is its slot's hold (``held_until``): no timer in memory. A touch of an
offer past its deadline (accept, decline, reading it) expires it and passes the slot on at
once; the ``waitlist.sweep`` beat task does the same for the offers nobody touches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from django.db import IntegrityError, router, transaction
from django.db.models import Exists, F, Model, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import CLINICIAN_ROLES, Role, User
from accounts.permissions import has_active_role, require_role
from core.audit import audit_record
from core.errors import DomainError, RoleNotAllowed
from core.outbox import event_publish
from core.sql import first_row, insert_row, rows_of, statements_together
from notifications.models import NotificationPreference
from notifications.selectors import in_quiet_hours
from scheduling.lock_objects import slot_lock_for_booking, slots_lock
from scheduling.models import Appointment, Mode, Slot
from scheduling.selectors import patient_overlapping_appointments
from scheduling.services import (
    BookingPolicy,
    appointment_book,
    booking_policy_for,
    booking_policy_from_overrides,
)
from scheduling.services.holds import hold_deadline, slot_hold_locked, slot_release
from waitlist.errors import (
    ClinicianNotFound,
    EntryNotActive,
    EntryNotFound,
    InvalidWaitlist,
    OfferExpired,
    OfferNotFound,
    OfferNotOpen,
    WaitlistDuplicate,
)
from waitlist.lock_objects import entries_lock, entry_lock, entry_lock_free, offer_lock
from waitlist.metrics import WAITLIST_OFFERS
from waitlist.models import WaitlistEntry, WaitlistOffer
from waitlist.selectors import entry_get_for, offer_get_for, patient_waits

logger = logging.getLogger(__name__)

Entry = WaitlistEntry.Status
Offer = WaitlistOffer.Status

WAITLIST_JOINED = "waitlist.joined"
WAITLIST_REMOVED = "waitlist.removed"
WAITLIST_FULFILLED = "waitlist.fulfilled"
WAITLIST_OFFERED = "waitlist.offered"
WAITLIST_ACCEPTED = "waitlist.accepted"
WAITLIST_DECLINED = "waitlist.declined"
WAITLIST_EXPIRED = "waitlist.expired"
WAITLIST_WITHDRAWN = "waitlist.withdrawn"

ONE_ACTIVE_ENTRY_CONSTRAINT = "waitlist_one_active_entry_per_clinician"
# How many entries one offer looks through (in queue order) before giving up on a slot:
# beyond it the slot simply stays open for anyone to book.
CANDIDATE_LIMIT = 200
# The first read of candidates takes this many (the first almost always fits: the query
# already leaves out the busy, the offered and the wrong mode); the rest, up to
# CANDIDATE_LIMIT, only when none of them takes the offer.
FIRST_CANDIDATES = 4
SWEEP_BATCH_SIZE = 200
# The priorities staff may give an entry (patients join at 0): one rule for the API, the
# admin's form and any other caller.
MIN_PRIORITY, MAX_PRIORITY = -100, 100
# A slot in these states is no one's to book: a live offer of it is withdrawn by the sweep.
OFF_CALENDAR = (Slot.Status.WITHDRAWN, Slot.Status.BLOCKED)


# --- entries -------------------------------------------------------------------------


def entry_join(
    *,
    patient: User,
    clinician: User,
    actor: User,
    not_before: date | None = None,
    not_after: date | None = None,
    weekdays: Iterable[int] = (),
    mode: str = "",
    priority: int = 0,
) -> WaitlistEntry:
    """Put ``patient`` on ``clinician``'s waitlist. ``actor`` is the patient or staff
    acting for them. A second active entry for the same clinician is 409
    ``waitlist_duplicate`` (the partial unique constraint decides a race)."""
    _check_actor(actor, patient)
    if not has_active_role(clinician, *CLINICIAN_ROLES):
        raise ClinicianNotFound(details={"clinician": clinician.pk})
    days = _checked_window(patient, not_before, not_after, weekdays, mode, priority)
    with transaction.atomic():
        if _active_entry(patient.pk, clinician.pk).exists():
            raise WaitlistDuplicate(details={"clinician": clinician.pk})
        entry = _insert_entry(
            patient=patient,
            clinician=clinician,
            created_by=actor,
            not_before=not_before,
            not_after=not_after,
            weekdays=days,
            mode=mode,
            priority=priority,
        )
        _entry_recorded(entry, action="waitlist.join", event=WAITLIST_JOINED, actor=actor)
    return entry


def _check_actor(actor: User, patient: User) -> None:
    """A patient acts for themselves; staff for any patient."""
    if actor.pk != patient.pk:
        require_role(actor, Role.STAFF)
    if not has_active_role(patient, Role.PATIENT):
        raise RoleNotAllowed(
            "Only patients wait for a visit.", details={"allowed_roles": [Role.PATIENT]}
        )


def _checked_window(
    patient: User,
    not_before: date | None,
    not_after: date | None,
    weekdays: Iterable[int],
    mode: str,
    priority: int,
) -> list[int]:
    """The entry's constraints checked (a 400 ``invalid_waitlist`` naming the fields);
    returns the weekdays sorted and distinct."""
    problems: dict[str, str] = {}
    given = list(weekdays)
    if not all(type(day) is int and 0 <= day <= 6 for day in given):  # bool is no weekday
        problems["weekdays"] = "Use ISO weekdays 0 (Monday) to 6 (Sunday)."
    if mode and mode not in Mode.values:
        problems["mode"] = f"Use one of {', '.join(Mode.values)}, or leave it empty."
    if not_before is not None and not_after is not None and not_after < not_before:
        problems["not_after"] = "It must not be before not_before."
    elif not_after is not None and not_after < timezone.now().astimezone(patient.tzinfo).date():
        problems["not_after"] = "It must not be in the past."
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        problems["priority"] = f"Use {MIN_PRIORITY} to {MAX_PRIORITY}."
    if problems:
        raise InvalidWaitlist(details={"fields": problems})
    return sorted(set(given))


def _active_entry(patient_id: int, clinician_id: int) -> QuerySet[WaitlistEntry]:
    return WaitlistEntry.objects.filter(
        patient_id=patient_id, clinician_id=clinician_id, status=Entry.ACTIVE
    )


def _insert_entry(**fields: Any) -> WaitlistEntry:
    """INSERT in a savepoint: a concurrent join's row makes the constraint refuse ours."""
    try:
        with transaction.atomic():
            return WaitlistEntry.objects.create(**fields)
    except IntegrityError as exc:
        if ONE_ACTIVE_ENTRY_CONSTRAINT in _constraint_name(exc):
            raise WaitlistDuplicate(details={"clinician": fields["clinician"].pk}) from exc
        raise


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or str(exc)


class _OfferMoved(Exception):
    """The entry got a new live offer between the unlocked read and the locks: retry."""


def entry_remove(*, entry_id: int, actor: User) -> WaitlistEntry:
    """The patient leaves the waitlist (or staff remove them). A live offer of theirs is
    withdrawn and its slot passes on at once. Removing a removed entry changes nothing;
    a fulfilled entry is 409 ``waitlist_entry_not_active``."""
    require_role(actor, Role.PATIENT, Role.STAFF)  # a role refusal comes before a 404
    entry = entry_get_for(user=actor, entry_id=entry_id)
    for _attempt in range(3):
        try:
            return _remove(entry.pk, actor=actor)
        except _OfferMoved:
            continue
    raise EntryNotActive("The entry is changing; try again.", code="waitlist_entry_busy")


@transaction.atomic
def _remove(entry_id: int, *, actor: User) -> WaitlistEntry:
    now = timezone.now()
    live = _live_offer_of(entry_id)
    offer = None
    if live is not None:
        slots_lock([live.slot_id])
        offer = offer_lock(live.pk)
    entry = entry_lock(entry_id)
    if entry is None:  # deleted meanwhile (with its patient)
        raise EntryNotFound()
    if entry.status == Entry.REMOVED:
        return entry
    if entry.status != Entry.ACTIVE:
        raise EntryNotActive(details={"status": entry.status})
    if offer is not None and offer.status != Offer.OFFERED:
        offer = None  # answered between the read and the lock
    current = _live_offer_of(entry_id)
    if getattr(current, "pk", None) != getattr(offer, "pk", None):
        raise _OfferMoved()
    entry.status = Entry.REMOVED
    entry.ended_at = now
    entry.ended_by = actor
    entry.save(update_fields=["status", "ended_at", "ended_by"])
    _entry_recorded(entry, action="waitlist.remove", event=WAITLIST_REMOVED, actor=actor)
    if offer is not None:
        _offer_end(offer, Offer.DECLINED, now=now, actor=actor, event=WAITLIST_WITHDRAWN)
        _pass_on(offer.slot_id, now)
    return entry


def _live_offer_of(entry_id: int) -> WaitlistOffer | None:
    return WaitlistOffer.objects.filter(entry_id=entry_id, status=Offer.OFFERED).first()


def _entry_recorded(entry: WaitlistEntry, *, action: str, event: str, actor: User | None) -> None:
    """The audit row and event of an entry's step: ids only."""
    metadata = {"patient_id": entry.patient_id, "clinician_id": entry.clinician_id}
    if entry.appointment_id is not None:
        metadata["appointment_id"] = entry.appointment_id
    audit_record(actor=actor, action=action, obj=entry, metadata=metadata)
    event_publish(
        name=event,
        payload={
            "entry_id": entry.pk,
            **metadata,
            "status": entry.status,
            "actor_id": getattr(actor, "pk", None),
        },
        aggregate=("waitlist.waitlistentry", entry.pk),
    )


# --- matching and offering -------------------------------------------------------------


def entry_matches(entry: WaitlistEntry, slot: Slot) -> bool:
    """Whether ``slot`` fits ``entry``'s window (the slot's date on the patient's own
    clock), weekdays and mode."""
    day = slot.start.astimezone(entry.patient.tzinfo).date()
    if not _in_window(entry, day):
        return False
    if entry.weekdays and day.weekday() not in entry.weekdays:
        return False
    return not entry.mode or entry.mode == slot.mode


def _in_window(entry: WaitlistEntry, day: date) -> bool:
    if entry.not_before is not None and day < entry.not_before:
        return False
    return entry.not_after is None or day <= entry.not_after


# No savepoint of its own: inside a writer's transaction (the handlers) a failure here
# aborts that transaction anyway, and the offer path stays a few statements shorter.
@transaction.atomic(savepoint=False)
def slot_offer_next(*, slot_id: int, now: datetime | None = None) -> WaitlistOffer | None:
    """The slot became bookable: offer it to the earliest matching active entry (highest
    priority, then joined first) that has not had an offer of it and has no live offer,
    skipping patients in their quiet hours (they keep their place) or busy at that time,
    and hold it for them (``scheduling.services.holds.slot_hold_locked``, on the slot
    locked here). A live offer of the slot leaves it as it is; one past its deadline
    expires first. Nobody matching: the slot's hold, if any is left, is released, so the
    slot is open. Returns the offer."""
    now = now or timezone.now()
    locked_slot = slot_lock_for_booking(slot_id)  # the slot with its clinician's policy
    if locked_slot is None:
        return None
    slot, overrides = locked_slot
    policy = booking_policy_from_overrides(*overrides)
    live = first_row(_slot_live_offer, slot_id, model=WaitlistOffer)
    if live is not None:
        live_id, expires_at = live
        if expires_at > now:
            return None  # the slot is someone's offer already
        locked = offer_lock(live_id)
        assert locked is not None  # noqa: S101 - we hold its slot's lock
        _offer_end(locked, Offer.EXPIRED, now=now, actor=None, event=WAITLIST_EXPIRED)
    elif slot.hold_live(now):
        return None  # held by someone outside the waitlist: theirs until it ends
    elif slot.held_until is None:
        return _offer_to_next_entry(slot, now, policy)  # no hold to release (a freed seat)
    return _pass_on(slot_id, now, policy)


def _slot_live_offer(slot_id: Any) -> QuerySet[WaitlistOffer, Any]:
    """The slot's live offer (at most one, by constraint): its id and deadline."""
    live = WaitlistOffer.objects.filter(slot_id=slot_id, status=Offer.OFFERED)
    return live.values_list("pk", "expires_at")


def _entry_live_offer(entry_id: Any) -> QuerySet[WaitlistOffer, Any]:
    """The entry's live offer (at most one, by constraint): its id."""
    return WaitlistOffer.objects.filter(entry_id=entry_id, status=Offer.OFFERED).values_list("pk")


def _pass_on(
    slot_id: int, now: datetime, policy: BookingPolicy | None = None
) -> WaitlistOffer | None:
    """The slot's hold (the ended offer's, or one past its time) released, then the slot
    offered to the next matching entry."""
    slot = slot_release(slot_id=slot_id)
    return _offer_to_next_entry(slot, now, policy)


def _offer_to_next_entry(
    slot: Slot, now: datetime, policy: BookingPolicy | None = None
) -> WaitlistOffer | None:
    if not _bookable(slot, now, policy):
        return None
    for entry, preference in _candidates_in_order(slot):
        if not entry_matches(entry, slot):
            continue
        if in_quiet_hours(entry.patient, now, preference=preference):
            continue
        offer = _offer(slot, entry, now)
        if offer is not None:
            return offer
    return None


def _bookable(slot: Slot, now: datetime, policy: BookingPolicy | None) -> bool:
    """Open with a seat left and inside the clinician's booking policy (an offer the
    patient could not book is no offer)."""
    if slot.status != Slot.Status.OPEN or slot.seats_left < 1:
        return False
    policy = policy or booking_policy_for(slot.clinician_id)
    return now + policy.min_notice <= slot.start <= now + policy.max_horizon


def _candidate_values(slot: Slot) -> dict[str, Any]:
    day = slot.start.date()
    return {
        "clinician_id": slot.clinician_id,
        "slot_id": slot.pk,
        "start": slot.start,
        "end": slot.end,
        "mode": str(slot.mode),  # a Mode member, on a slot made in this process
        "day_after": day + timedelta(days=1),
        "day_before": day - timedelta(days=1),
    }


def _candidates(values: Mapping[str, Any]) -> QuerySet[WaitlistEntry]:
    """Active entries of the slot's clinician in offer order that may fit it: mode, a
    window a day wider than the slot's UTC date (each patient's own date is checked in
    ``entry_matches``), no offer of this slot yet, no live offer elsewhere, a patient free
    at that time (busy, or already in this group slot: the booking would be 409).
    ``values``: ``_candidate_values`` of the slot."""
    busy = patient_overlapping_appointments(
        patient_id=cast(int, OuterRef("patient_id")), start=values["start"], end=values["end"]
    )
    return (
        WaitlistEntry.objects.filter(clinician_id=values["clinician_id"], status=Entry.ACTIVE)
        .filter(~Exists(busy))
        .filter(Q(mode="") | Q(mode=values["mode"]))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=values["day_after"]))
        .filter(Q(not_after__isnull=True) | Q(not_after__gte=values["day_before"]))
        .exclude(offers__slot_id=values["slot_id"])
        .exclude(offers__status=Offer.OFFERED)
        .order_by("-priority", "created_at", "pk")
    )


# What an offer reads of a candidate (the first read's columns, by name).
_CANDIDATE_COLUMNS = {
    "entry_pk": "pk",
    "entry_patient_id": "patient_id",
    "entry_not_before": "not_before",
    "entry_not_after": "not_after",
    "entry_weekdays": "weekdays",
    "entry_mode": "mode",
    "patient_time_zone": "patient__time_zone",
    "patient_role": "patient__role",
    "patient_is_active": "patient__is_active",
    "quiet_start": "patient__notification_preference__quiet_start",
    "quiet_end": "patient__notification_preference__quiet_end",
}


def _first_candidates(values: Mapping[str, Any]) -> QuerySet[WaitlistEntry, Any]:
    columns = {name: F(lookup) for name, lookup in _CANDIDATE_COLUMNS.items()}
    return _candidates(values).values(**columns)[:FIRST_CANDIDATES]


Candidate = tuple[WaitlistEntry, NotificationPreference]
_M = TypeVar("_M", bound=Model)


def _candidates_in_order(slot: Slot) -> Iterator[Candidate]:
    """The first ``CANDIDATE_LIMIT`` of ``_candidates`` in order, each with its patient's
    preferences, read in two steps: the first ``FIRST_CANDIDATES`` (one short read of
    the columns an offer needs, its statement compiled once per process:
    ``core.sql.rows_of``), then, only if the loop gets past them, the rest without
    those (by id: an entry that joins or leaves in between cannot shift the second read
    onto one already tried) through the ORM."""
    values = _candidate_values(slot)
    first = rows_of(_first_candidates, values, model=WaitlistEntry)
    yield from (_candidate_of(row) for row in first)
    if len(first) < FIRST_CANDIDATES:
        return
    seen = [row["entry_pk"] for row in first]
    rest = _candidates(values).exclude(pk__in=seen)
    rest = rest.select_related("patient__notification_preference")
    for entry in rest[: CANDIDATE_LIMIT - len(seen)]:
        yield entry, _preference_of(entry.patient)


def _candidate_of(row: dict[str, Any]) -> Candidate:
    """An entry (its patient attached) and the patient's preferences from a row of
    ``_first_candidates``: only the columns read are loaded (any other is deferred)."""
    weekdays = row["entry_weekdays"]
    entry = _loaded(
        WaitlistEntry,
        id=row["entry_pk"],
        patient_id=row["entry_patient_id"],
        not_before=row["entry_not_before"],
        not_after=row["entry_not_after"],
        weekdays=json.loads(weekdays) if isinstance(weekdays, str) else weekdays,
        mode=row["entry_mode"],
    )
    entry.patient = _loaded(
        User,
        id=entry.patient_id,
        time_zone=row["patient_time_zone"],
        role=row["patient_role"],
        is_active=row["patient_is_active"],
    )
    preference = NotificationPreference(
        user_id=entry.patient_id, quiet_start=row["quiet_start"], quiet_end=row["quiet_end"]
    )
    return entry, preference


def _loaded(model: type[_M], **fields: Any) -> _M:
    """An instance as the ORM loads one with only ``fields`` (by attribute name; the
    others deferred): ``from_db`` takes them in the model's field order."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in fields]
    alias = router.db_for_write(model)
    return model.from_db(alias, names, [fields[name] for name in names])


def _preference_of(patient: User) -> NotificationPreference:
    """The patient's preferences, joined to the candidates (the defaults without a row)."""
    try:
        return patient.notification_preference
    except NotificationPreference.DoesNotExist:
        return NotificationPreference(user=patient)


# What a new offer's INSERT writes (core.sql.insert_row: built once per process).
_NEW_OFFER_FIELDS = ("entry", "slot", "patient", "clinician", "status", "created_at", "expires_at")


def _offer(slot: Slot, entry: WaitlistEntry, now: datetime) -> WaitlistOffer | None:
    """Lock the entry (after the slot), check it is still free to take an offer, hold the
    slot for its patient and record the offer; None when any of that is refused. An entry
    another transaction holds is being offered, removed or fulfilled right now: it is
    passed over rather than waited for, so an offer never waits on a waitlist row (and
    can never close a cycle of waits with a booking, a removal or another offer).

    ``slot`` is the row the caller locked: the hold is made on it
    (``scheduling.services.holds.slot_hold_locked``), with no second lock or read and no
    savepoint (a refusal comes before any write). The writes go in two round trips
    (``core.sql.statements_together``): the slot's UPDATE, the hold's ``slot.held`` audit
    row and event and the offer's INSERT in one statement, the offer's
    ``waitlist.offer`` audit row and ``waitlist.offered`` event in the next. The audit
    trail is the same as with separate statements: a ``slot.held`` row and a
    ``waitlist.offer`` row."""
    if entry_lock_free(entry.pk) != Entry.ACTIVE:  # held elsewhere, gone, or ended
        return None
    if first_row(_entry_live_offer, entry.pk, model=WaitlistOffer) is not None:
        return None
    until = hold_deadline(now)
    with statements_together():
        try:
            slot_hold_locked(slot, patient=entry.patient, until=until)
        except DomainError as refused:  # e.g. the patient is no longer active
            logger.info(
                "waitlist: no hold of slot %s for entry %s (%s)", slot.pk, entry.pk, refused
            )
            return None
        offer = WaitlistOffer(
            entry_id=entry.pk,
            slot=slot,
            patient_id=entry.patient_id,
            clinician_id=slot.clinician_id,
            expires_at=until,
        )
        insert_row(offer, _NEW_OFFER_FIELDS)
        _offer_recorded(offer, action="waitlist.offer", event=WAITLIST_OFFERED, actor=None)
    return offer


def _offer_recorded(offer: WaitlistOffer, *, action: str, event: str, actor: User | None) -> None:
    """The audit row and event of an offer's step: ids and the deadline only."""
    metadata: dict[str, Any] = {
        "entry_id": offer.entry_id,
        "slot_id": offer.slot_id,
        "patient_id": offer.patient_id,
        "status": offer.status,
    }
    if offer.status == Offer.OFFERED:
        metadata["expires_at"] = offer.expires_at.isoformat()
    if offer.appointment_id is not None:
        metadata["appointment_id"] = offer.appointment_id
    audit_record(actor=actor, action=action, obj=offer, metadata=metadata)
    transaction.on_commit(WAITLIST_OFFERS.labels(step=event.rsplit(".", 1)[1]).inc)
    event_publish(
        name=event,
        payload={
            "offer_id": offer.pk,
            **metadata,
            "clinician_id": offer.clinician_id,
            "actor_id": getattr(actor, "pk", None),
        },
        aggregate=("waitlist.waitlistoffer", offer.pk),
    )


def _offer_end(
    offer: WaitlistOffer, status: str, *, now: datetime, actor: User | None, event: str
) -> None:
    """Close a live offer (locked, with its slot) as declined or expired. The caller
    releases the slot's hold and passes it on."""
    offer.status = status
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    action = {
        WAITLIST_DECLINED: "waitlist.decline",
        WAITLIST_EXPIRED: "waitlist.expire",
        WAITLIST_WITHDRAWN: "waitlist.withdraw",
    }[event]
    _offer_recorded(offer, action=action, event=event, actor=actor)


# --- answering an offer ------------------------------------------------------------------


def offer_accept(*, offer_id: int, actor: User) -> Appointment:
    """Book the offered slot for the offered patient (the patient, or staff for them),
    through scheduling's booking (policy, seat, audit, events). Accepting again answers
    the same appointment; after the deadline it is 410 ``offer_expired`` (and the slot
    passes on); a declined offer is 409 ``offer_not_open``."""
    require_role(actor, Role.PATIENT, Role.STAFF)
    offer = offer_get_for(user=actor, offer_id=offer_id)
    appointment = _accept(offer.pk, offer.slot_id, actor=actor)
    if appointment is None:  # expired: its passing on committed above
        raise OfferExpired(details={"offer": offer.pk})
    return appointment


@transaction.atomic
def _accept(offer_id: int, slot_id: int, *, actor: User) -> Appointment | None:
    now = timezone.now()
    slots_lock([slot_id])
    offer = offer_lock(offer_id)
    if offer is None:  # deleted meanwhile (with its slot or patient)
        raise OfferNotFound()
    if offer.status == Offer.ACCEPTED:
        return _appointment_of(offer)
    if offer.status == Offer.DECLINED:
        raise OfferNotOpen(details={"offer": offer.pk, "status": offer.status})
    if offer.status == Offer.EXPIRED:
        return None
    if offer.expires_at <= now:
        _offer_end(offer, Offer.EXPIRED, now=now, actor=None, event=WAITLIST_EXPIRED)
        _pass_on(slot_id, now)
        return None
    patient = User.objects.get(pk=offer.patient_id)
    appointment = appointment_book(patient=patient, slot_id=slot_id, actor=actor)
    # The booking's appointment.scheduled handler (waitlist.events) accepted the offer and
    # fulfilled its entry; an offer whose entry had ended already is accepted here.
    offer.refresh_from_db(fields=["status", "appointment", "responded_at"])
    if offer.status == Offer.OFFERED:
        offer_accepted(offer, appointment, now=now)
    return appointment


def _appointment_of(offer: WaitlistOffer) -> Appointment:
    appointment_id = offer.appointment_id
    assert appointment_id is not None  # noqa: S101 - the database: accepted has an appointment
    return Appointment.objects.select_related("slot", "patient", "clinician").get(pk=appointment_id)


def offer_accepted(offer: WaitlistOffer, appointment: Appointment, *, now: datetime) -> None:
    """Record a live offer (locked, with its slot) as accepted by ``appointment``."""
    offer.status = Offer.ACCEPTED
    offer.appointment = appointment
    offer.responded_at = now
    offer.save(update_fields=["status", "appointment", "responded_at"])
    actor = appointment.patient if Appointment.patient.is_cached(appointment) else None
    _offer_recorded(offer, action="waitlist.accept", event=WAITLIST_ACCEPTED, actor=actor)


def offer_decline(*, offer_id: int, actor: User) -> WaitlistOffer:
    """The patient (or staff for them) declines: the slot passes to the next matching
    entry at once. Declining again changes nothing; after the deadline it is 410
    ``offer_expired``; an accepted offer is 409 ``offer_not_open``."""
    require_role(actor, Role.PATIENT, Role.STAFF)
    offer = offer_get_for(user=actor, offer_id=offer_id)
    declined = _decline(offer.pk, offer.slot_id, actor=actor)
    if declined is None:
        raise OfferExpired(details={"offer": offer.pk})
    return declined


@transaction.atomic
def _decline(offer_id: int, slot_id: int, *, actor: User) -> WaitlistOffer | None:
    now = timezone.now()
    slots_lock([slot_id])
    offer = offer_lock(offer_id)
    if offer is None:  # deleted meanwhile (with its slot or patient)
        raise OfferNotFound()
    if offer.status == Offer.DECLINED:
        return offer
    if offer.status == Offer.ACCEPTED:
        raise OfferNotOpen(details={"offer": offer.pk, "status": offer.status})
    if offer.status == Offer.EXPIRED:
        return None
    expired = offer.expires_at <= now
    if expired:
        _offer_end(offer, Offer.EXPIRED, now=now, actor=None, event=WAITLIST_EXPIRED)
    else:
        _offer_end(offer, Offer.DECLINED, now=now, actor=actor, event=WAITLIST_DECLINED)
    _pass_on(slot_id, now)
    return None if expired else offer


def offer_touch(*, offer_id: int, user: User) -> WaitlistOffer:
    """Read one offer; one past its deadline is expired (and its slot passed on) first."""
    offer = offer_get_for(user=user, offer_id=offer_id)
    if offer.status == Offer.OFFERED and offer.expires_at <= timezone.now():
        offer_expire(offer_id=offer.pk)
        offer = offer_get_for(user=user, offer_id=offer_id)
    return offer


# --- expiry ------------------------------------------------------------------------------


@transaction.atomic
def offer_expire(*, offer_id: int, now: datetime | None = None) -> bool:
    """Expire one live offer past its deadline and pass its slot on; False when it is no
    longer live or not due (someone answered it first)."""
    now = now or timezone.now()
    found = WaitlistOffer.objects.filter(pk=offer_id).values_list("slot_id", flat=True).first()
    if found is None:
        return False
    slots_lock([found])
    offer = offer_lock(offer_id)
    if offer is None or offer.status != Offer.OFFERED or offer.expires_at > now:
        return False
    _offer_end(offer, Offer.EXPIRED, now=now, actor=None, event=WAITLIST_EXPIRED)
    _pass_on(offer.slot_id, now)
    return True


def offers_expire_due(*, now: datetime | None = None, batch_size: int = SWEEP_BATCH_SIZE) -> int:
    """The sweep: expire live offers past their deadline, each in its own transaction, and
    pass each slot on; then settle live offers whose entry has ended or whose slot was
    taken off the calendar. Returns how many offers expired."""
    now = now or timezone.now()
    due = WaitlistOffer.objects.filter(status=Offer.OFFERED, expires_at__lte=now)
    ids = list(due.order_by("expires_at", "pk").values_list("pk", flat=True)[:batch_size])
    expired = sum(offer_expire(offer_id=offer_id, now=now) for offer_id in ids)
    orphans = WaitlistOffer.objects.filter(status=Offer.OFFERED).filter(
        ~Q(entry__status=Entry.ACTIVE) | Q(slot__status__in=OFF_CALENDAR)
    )
    for offer_id in orphans.values_list("pk", flat=True)[:batch_size]:
        offer_settle(offer_id=offer_id)
    return expired


@transaction.atomic
def offer_settle(*, offer_id: int) -> WaitlistOffer | None:
    """A live offer whose entry ended (its patient booked another slot of the clinician,
    or left) or whose slot was withdrawn or blocked: accepted if the patient booked this
    very slot, else withdrawn and the slot passed on (or just released, off the
    calendar). Safe to repeat (the ``waitlist.fulfilled`` subscriber and the sweep)."""
    found = WaitlistOffer.objects.filter(pk=offer_id).values_list("slot_id", flat=True).first()
    if found is None:
        return None
    slot = slots_lock([found]).get(found)
    offer = offer_lock(offer_id)
    if slot is None or offer is None or offer.status != Offer.OFFERED:
        return offer
    entry = WaitlistEntry.objects.filter(pk=offer.entry_id).values_list("status", flat=True)
    if entry.first() == Entry.ACTIVE and slot.status not in OFF_CALENDAR:
        return offer
    now = timezone.now()
    booked = (
        Appointment.objects.filter(slot_id=offer.slot_id, patient_id=offer.patient_id)
        .filter(status__in=Appointment.ACTIVE_STATUSES)
        .first()
    )
    if booked is not None:
        offer_accepted(offer, booked, now=now)
        return offer
    _offer_end(offer, Offer.DECLINED, now=now, actor=None, event=WAITLIST_WITHDRAWN)
    _pass_on(offer.slot_id, now)
    return offer


# --- reactions to scheduling (called by waitlist.events inside scheduling's transaction) --


def entries_fulfil_on_booking(*, payload: dict[str, Any]) -> None:
    """An appointment was booked (or moved): the patient's active entry for that clinician
    ends (``fulfilled``) when its date is inside the entry's window, and a live offer of
    this very slot is accepted by it. One indexed query when the patient waits for
    nobody. Runs under the booked slot's lock; an offer of another slot is settled after
    commit (``waitlist.fulfilled``'s subscriber), never locked from here."""
    if not patient_waits(payload["patient_id"]):
        return  # the common case: one compiled read, no queryset built
    entries = entries_lock(
        _active_entry(payload["patient_id"], payload["clinician_id"]).select_related("patient")
    )
    if not entries:
        return
    now = timezone.now()
    appointment = Appointment.objects.select_related("patient").get(pk=payload["appointment_id"])
    for entry in entries:
        live = _live_offer_of(entry.pk)
        if live is not None and live.slot_id == payload["slot_id"]:
            locked = offer_lock(live.pk)  # safe: we hold its slot's lock
            if locked is not None and locked.status == Offer.OFFERED:
                offer_accepted(locked, appointment, now=now)
        start = parse_datetime(payload["start"]) or appointment.start
        if _in_window(entry, start.astimezone(entry.patient.tzinfo).date()):
            entry.status = Entry.FULFILLED
            entry.ended_at = now
            entry.appointment = appointment
            entry.save(update_fields=["status", "ended_at", "appointment"])
            _entry_recorded(entry, action="waitlist.fulfil", event=WAITLIST_FULFILLED, actor=None)


def offers_settle_for_entry(*, entry_id: int) -> None:
    """After an entry ended: settle its offers still live (``offer_settle``)."""
    live = WaitlistOffer.objects.filter(entry_id=entry_id, status=Offer.OFFERED)
    for offer_id in live.values_list("pk", flat=True):
        offer_settle(offer_id=offer_id)


def slots_offer(*, clinician_id: int, slot_ids: Iterable[int]) -> list[WaitlistOffer]:
    """Offer each of a clinician's slots that just became bookable (new availability), in
    start order, while someone waits without a live offer."""
    offers: list[WaitlistOffer] = []
    for slot_id in slot_ids:
        if not _anyone_free_to_offer(clinician_id):
            break
        offer = slot_offer_next(slot_id=slot_id)
        if offer is not None:
            offers.append(offer)
    return offers


def _anyone_free_to_offer(clinician_id: int) -> bool:
    return (
        WaitlistEntry.objects.filter(clinician_id=clinician_id, status=Entry.ACTIVE)
        .exclude(offers__status=Offer.OFFERED)
        .exists()
    )
