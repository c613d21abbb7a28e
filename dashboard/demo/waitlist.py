"""The waitlist: two patients waiting for a clinician on a day next week, and a live offer.

Wren waits for Cleo (next week's Thursday); Rene, booked with Cleo that day
(``ahead``), cancels, and the waitlist offers the freed session to Wren with its hold, in
the cancellation's own transaction (``waitlist.events``). Uli waits for Dev (next week's
Friday), with no offer yet. All through ``waitlist.services``.

An offer lives for ``WAITLIST_HOLD_SECONDS``. A later run finds it expired: it is expired
through the service, and the next open session that day is offered instead
(``slot_offer_next``), so the demo has a live offer again. An entry whose day has passed
is left (``entry_remove``, as the patient) and joined again for the next week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from accounts.models import User
from dashboard.demo.history import week_start_of
from dashboard.demo.log import DemoLog
from dashboard.demo.people import CLEO, DEV, Cast, DemoPerson
from scheduling.models import Appointment, Slot
from scheduling.services import appointment_cancel
from waitlist.models import WaitlistEntry, WaitlistOffer
from waitlist.services import entry_join, entry_remove, offer_expire, slot_offer_next


@dataclass(frozen=True)
class Wait:
    patient: str
    clinician: DemoPerson
    weekday: int  # of next week
    freed_by: str = ""  # the patient whose cancellation makes the offer


WAITS = (Wait("Wren", CLEO, 3, freed_by="Rene"), Wait("Uli", DEV, 4))


def waitlist_seed(cast: Cast, *, now: datetime, log: DemoLog) -> None:
    for wait in WAITS:
        entry = _entry(cast, wait, now=now, log=log)
        if wait.freed_by:
            _live_offer(cast, wait, entry, now=now, log=log)


def _day(person: User, now: datetime, weekday: int) -> date:
    today = now.astimezone(person.tzinfo).date()
    return week_start_of(today) + timedelta(weeks=1, days=weekday)


def _entry(cast: Cast, wait: Wait, *, now: datetime, log: DemoLog) -> WaitlistEntry:
    patient, clinician = cast.patients[wait.patient], cast.clinician(wait.clinician)
    today = now.astimezone(patient.tzinfo).date()
    active = WaitlistEntry.objects.filter(
        patient=patient, clinician=clinician, status=WaitlistEntry.Status.ACTIVE
    ).first()
    if active is not None and (active.not_after is None or active.not_after >= today):
        return active
    if active is not None:
        entry_remove(entry_id=active.pk, actor=patient)
    day = _day(patient, now, wait.weekday)
    entry = entry_join(
        patient=patient,
        clinician=clinician,
        actor=patient,
        not_before=day,
        not_after=day,
        weekdays=[wait.weekday],
    )
    log.created(f"waitlist: {patient.first_name} waits for {clinician.first_name} on {day}")
    return entry


def _live_offer(
    cast: Cast, wait: Wait, entry: WaitlistEntry, *, now: datetime, log: DemoLog
) -> None:
    offers = WaitlistOffer.objects.filter(entry=entry, status=WaitlistOffer.Status.OFFERED)
    if offers.filter(expires_at__gt=now).exists():
        return
    for stale in offers.values_list("pk", flat=True):
        offer_expire(offer_id=stale, now=now)
    _cancel_freeing(cast, wait, entry)
    if not offers.exists():
        _offer_an_open_session(entry, now=now)
    offer = offers.select_related("slot").first()
    if offer is None:
        log.note(f"no session to offer {entry.patient.email} on {entry.not_before}")
        return
    local = offer.slot.start.astimezone(entry.clinician.tzinfo)
    log.created(f"waitlist offer to {entry.patient.first_name}: {local:%a %d %b %H:%M}")


def _day_bounds(entry: WaitlistEntry) -> tuple[datetime, datetime]:
    assert entry.not_before is not None  # noqa: S101 - the demo's entries name their day
    zone = entry.clinician.tzinfo
    return (
        datetime.combine(entry.not_before, time.min, tzinfo=zone),
        datetime.combine(entry.not_before + timedelta(days=1), time.min, tzinfo=zone),
    )


def _cancel_freeing(cast: Cast, wait: Wait, entry: WaitlistEntry) -> None:
    """The booking on the waited-for day is cancelled by its patient: the waitlist's
    handler offers the freed session in the same transaction."""
    start, end = _day_bounds(entry)
    freeing = Appointment.objects.filter(
        patient=cast.patients[wait.freed_by],
        clinician=entry.clinician,
        start__gte=start,
        start__lt=end,
        status__in=Appointment.ACTIVE_STATUSES,
    ).first()
    if freeing is not None:
        appointment_cancel(
            actor=freeing.patient, appointment_id=freeing.pk, reason="Cannot make it (demo)"
        )


def _offer_an_open_session(entry: WaitlistEntry, *, now: datetime) -> None:
    start, end = _day_bounds(entry)
    open_slots = Slot.objects.filter(
        clinician=entry.clinician, status=Slot.Status.OPEN, start__gte=start, start__lt=end
    ).exclude(waitlist_offers__entry=entry)
    for slot_id in open_slots.order_by("start").values_list("pk", flat=True):
        offer = slot_offer_next(slot_id=slot_id, now=now)
        if offer is not None and offer.entry_id == entry.pk:
            return
