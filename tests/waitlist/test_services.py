"""The waitlist's services: who gets a freed slot (window, weekdays, mode, priority,
quiet hours, busy), what frees one (cancel, reschedule, new availability, a group seat),
how an offer ends (accept, decline, expiry, the sweep, leaving), and when an entry ends."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from core.errors import DomainError
from notifications.models import NotificationPreference
from scheduling.models import Appointment, Mode, Slot
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
    rule_create,
    slot_create,
)
from scheduling.services.holds import slot_hold
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, StaffFactory
from tests.waitlist.conftest import booked_slot, deliver_all, join, live_offer, slot_for
from waitlist.models import WaitlistEntry, WaitlistOffer
from waitlist.selectors import waitlist_counts
from waitlist.services import (
    FIRST_CANDIDATES,
    entry_join,
    entry_remove,
    offer_accept,
    offer_decline,
    offer_touch,
    offers_expire_due,
    slot_offer_next,
)

pytestmark = pytest.mark.django_db


def patient(**fields) -> User:
    return cast(User, PatientFactory(**fields))


def cancel(appointment: Appointment) -> None:
    appointment_cancel(actor=appointment.patient, appointment_id=appointment.pk)


def past_deadline(offer: WaitlistOffer) -> None:
    """Move the offer's deadline (and its slot's hold) into the past."""
    moment = timezone.now() - timedelta(seconds=1)
    WaitlistOffer.objects.filter(pk=offer.pk).update(expires_at=moment)
    Slot.objects.filter(pk=offer.slot_id).update(held_until=moment)


# --- who gets it ------------------------------------------------------------------------


def test_priority_first_then_joined_first(doctor):
    early, late, urgent = patient(), patient(), patient()
    join(early, doctor)
    join(late, doctor)
    staff = StaffFactory()
    entry_join(patient=urgent, clinician=doctor, actor=staff, priority=5)
    slot, appointment = booked_slot(doctor)

    cancel(appointment)

    assert live_offer(slot).patient_id == urgent.pk
    offer_decline(offer_id=live_offer(slot).pk, actor=urgent)
    assert live_offer(slot).patient_id == early.pk
    offer_decline(offer_id=live_offer(slot).pk, actor=early)
    assert live_offer(slot).patient_id == late.pk


def test_window_weekdays_and_mode_choose_who_matches(doctor):
    slot, appointment = booked_slot(doctor, hours=72)
    day = slot.start.date()  # the patients below live in UTC
    too_late = patient()
    join(too_late, doctor, not_before=day + timedelta(days=1))
    too_early = patient()
    join(too_early, doctor, not_after=day - timedelta(days=1))
    wrong_day = patient()
    join(wrong_day, doctor, weekdays=[(day.weekday() + 1) % 7])
    wrong_mode = patient()
    join(wrong_mode, doctor, mode=Mode.VIDEO)
    fits = patient()
    join(fits, doctor, not_before=day, not_after=day, weekdays=[day.weekday()], mode=slot.mode)

    cancel(appointment)

    offer = live_offer(slot)
    assert offer is not None
    assert offer.patient_id == fits.pk
    assert WaitlistOffer.objects.count() == 1


def test_an_offer_looks_past_the_first_read_of_candidates(doctor):
    """The first FIRST_CANDIDATES candidates come in one compiled read; when none of them
    fits (a weekday, quiet hours: checked after the read) the rest are read, in order."""
    slot, appointment = booked_slot(doctor, hours=72)
    day = slot.start.date()  # the patients below live in UTC
    for _ in range(FIRST_CANDIDATES + 1):
        join(patient(), doctor, weekdays=[(day.weekday() + 1) % 7])
    sleeping = patient()
    join(sleeping, doctor)
    now = timezone.now()
    NotificationPreference.objects.create(
        user=sleeping,
        quiet_start=(now - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        quiet_end=(now + timedelta(hours=1)).time().replace(second=0, microsecond=0),
    )
    fits, after = patient(), patient()
    join(fits, doctor)
    join(after, doctor)

    cancel(appointment)

    assert live_offer(slot).patient_id == fits.pk
    assert WaitlistOffer.objects.count() == 1


def test_the_window_is_read_on_the_patients_own_clock(doctor):
    # 23:30 UTC is the next day in Tokyo (UTC+9)
    start = (timezone.now() + timedelta(days=3)).replace(
        hour=23, minute=30, second=0, microsecond=0
    )
    slot = Slot.objects.create(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    appointment = appointment_book(patient=patient(), slot_id=slot.pk)
    tokyo_day = start.date() + timedelta(days=1)
    london_only = patient(time_zone="UTC")
    join(london_only, doctor, not_before=tokyo_day)
    tokyo = patient(time_zone="Asia/Tokyo")
    join(tokyo, doctor, not_before=tokyo_day, not_after=tokyo_day)

    cancel(appointment)

    assert live_offer(slot).patient_id == tokyo.pk


def test_a_patient_in_quiet_hours_is_skipped_and_keeps_their_place(doctor):
    sleeping, awake = patient(), patient()
    join(sleeping, doctor)
    join(awake, doctor)
    now = timezone.now()
    NotificationPreference.objects.create(
        user=sleeping,
        quiet_start=(now - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        quiet_end=(now + timedelta(hours=1)).time().replace(second=0, microsecond=0),
    )
    slot, appointment = booked_slot(doctor)

    cancel(appointment)

    assert live_offer(slot).patient_id == awake.pk
    assert not WaitlistOffer.objects.filter(patient=sleeping).exists()
    # once their quiet hours are over, the next freed slot is theirs (first in line)
    NotificationPreference.objects.filter(user=sleeping).update(
        quiet_start=time(3, 0), quiet_end=time(3, 1)
    )
    if (now.hour, now.minute) == (3, 0):  # the one minute this window would still cover
        return
    other, other_appointment = booked_slot(doctor, hours=72)
    cancel(other_appointment)
    assert live_offer(other).patient_id == sleeping.pk
    assert WaitlistEntry.objects.get(patient=sleeping).status == "active"


def test_an_offer_at_23_local_skips_quiet_hours_21_to_8_and_at_8_it_is_theirs(doctor):
    berlin = ZoneInfo("Europe/Berlin")
    with time_machine.travel(datetime(2027, 1, 12, 23, 0, tzinfo=berlin), tick=False):
        sleeping, awake = patient(time_zone="Europe/Berlin"), patient(time_zone="Europe/Berlin")
        NotificationPreference.objects.create(
            user=sleeping, quiet_start=time(21, 0), quiet_end=time(8, 0)
        )
        join(sleeping, doctor)
        join(awake, doctor)
        slot, appointment = booked_slot(doctor, hours=48)
        cancel(appointment)
        assert live_offer(slot).patient_id == awake.pk
    with time_machine.travel(datetime(2027, 1, 13, 8, 0, tzinfo=berlin), tick=False):
        later, later_appointment = booked_slot(doctor, hours=72)
        cancel(later_appointment)
        assert live_offer(later).patient_id == sleeping.pk


def test_a_patient_busy_at_that_time_is_skipped(doctor):
    busy, free = patient(), patient()
    join(busy, doctor)
    join(free, doctor)
    slot, appointment = booked_slot(doctor)
    elsewhere = Slot.objects.create(clinician=DoctorFactory(), start=slot.start, end=slot.end)
    appointment_book(patient=busy, slot_id=elsewhere.pk)

    cancel(appointment)

    assert live_offer(slot).patient_id == free.pk


def test_nobody_matching_leaves_the_slot_open(doctor):
    join(patient(), doctor, mode=Mode.VIDEO)
    slot, appointment = booked_slot(doctor)

    cancel(appointment)

    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id, slot.held_until) == (Slot.Status.OPEN, None, None)
    assert not WaitlistOffer.objects.exists()


def test_a_slot_too_soon_to_book_is_not_offered(doctor):
    join(patient(), doctor)
    slot = slot_for(doctor, 0.5, status=Slot.Status.BOOKED, seats_taken=1)  # inside the notice
    appointment = AppointmentFactory(slot=slot)

    appointment_cancel(actor=doctor, appointment_id=appointment.pk)

    assert not WaitlistOffer.objects.exists()


def test_a_manual_hold_is_left_alone(doctor):
    join(patient(), doctor)
    slot = slot_for(doctor)
    someone = patient()
    slot_hold(slot_id=slot.pk, patient=someone)

    assert slot_offer_next(slot_id=slot.pk) is None

    slot.refresh_from_db()
    assert slot.held_for_id == someone.pk


# --- what frees a slot --------------------------------------------------------------------


def test_a_freed_seat_of_a_group_slot_is_offered(doctor):
    waiting = patient()
    join(waiting, doctor)
    slot = slot_for(doctor, capacity=2)
    first = appointment_book(patient=patient(), slot_id=slot.pk)
    appointment_book(patient=patient(), slot_id=slot.pk)

    cancel(first)

    offer = live_offer(slot)
    assert offer.patient_id == waiting.pk
    slot.refresh_from_db()
    assert (slot.status, slot.seats_taken, slot.held_for_id) == (Slot.Status.HELD, 1, waiting.pk)
    accepted = offer_accept(offer_id=offer.pk, actor=waiting)
    slot.refresh_from_db()
    assert (accepted.seat, slot.status, slot.seats_taken) == (1, Slot.Status.BOOKED, 2)


def test_the_slot_left_by_a_reschedule_is_offered(doctor):
    waiting = patient()
    join(waiting, doctor)
    old, appointment = booked_slot(doctor)
    new = slot_for(doctor, 96)

    appointment_reschedule(
        actor=appointment.patient, appointment_id=appointment.pk, new_slot_id=new.pk
    )

    assert live_offer(old).patient_id == waiting.pk
    assert live_offer(new) is None


def test_new_availability_is_offered(doctor, client_for):
    waiting, second = patient(), patient()
    join(waiting, doctor)
    join(second, doctor)
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=2)

    response = client_for(doctor).post(
        "/api/v1/availability/",
        {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "slot_minutes": 30,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    offers = WaitlistOffer.objects.order_by("slot__start")
    assert [(o.patient_id, o.slot.start) for o in offers] == [
        (waiting.pk, start),
        (second.pk, start + timedelta(minutes=30)),
    ]


def test_a_rules_expansion_offers_its_slots(doctor):
    waiting = patient()
    join(waiting, doctor)
    today = timezone.now().date()

    rule_create(
        clinician=doctor,
        weekday=(today.weekday() + 3) % 7,
        start_time=time(10, 0),
        end_time=time(11, 0),
        valid_from=today,
        time_zone="UTC",
    )

    (offer,) = WaitlistOffer.objects.all()
    assert offer.patient_id == waiting.pk
    first = Slot.objects.filter(clinician=doctor).order_by("start").first()
    assert offer.slot_id == first.pk


def test_publishing_with_nobody_waiting_costs_one_query(doctor):
    join(patient(), DoctorFactory())  # someone waits, for another clinician
    start = timezone.now() + timedelta(days=2)
    with CaptureQueriesContext(connection) as queries:
        slot_create(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    waitlist = [q["sql"] for q in queries if "waitlist_" in q["sql"]]
    assert len(waitlist) == 1, waitlist


def test_a_cancellation_with_nobody_waiting_costs_one_query(doctor):
    _slot, appointment = booked_slot(doctor)
    with CaptureQueriesContext(connection) as queries:
        cancel(appointment)
    waitlist = [q["sql"] for q in queries if "waitlist_" in q["sql"]]
    assert len(waitlist) == 1, waitlist


def test_the_offer_a_cancellation_makes_costs_a_pinned_number_of_statements(doctor):
    """The cancel → offer path (docs/scheduling.md, Waitlist; docs/performance.md): the
    EXISTS, the slot with its clinician's policy, its live offer, candidates (free at that
    time), the entry's lock and live offer, then two writes: the hold's UPDATE with its
    audit row and event and the offer's INSERT in one statement, the offer's audit row and
    event in the next (core.sql.statements_together). No second read of the slot, no
    savepoint."""
    _plain_slot, plain = booked_slot(DoctorFactory())
    for _ in range(3):
        join(patient(), doctor)
    slot, appointment = booked_slot(doctor)
    with CaptureQueriesContext(connection) as without_waiting:
        cancel(plain)
    with CaptureQueriesContext(connection) as with_offer:
        cancel(appointment)
    assert live_offer(slot) is not None
    assert len(with_offer) - len(without_waiting) <= 7, [q["sql"][:80] for q in with_offer]


def test_a_booking_by_a_patient_waiting_for_nobody_costs_one_query(doctor):
    slot = slot_for(doctor)
    with CaptureQueriesContext(connection) as queries:
        appointment_book(patient=patient(), slot_id=slot.pk)
    waitlist = [q["sql"] for q in queries if "waitlist_" in q["sql"]]
    assert len(waitlist) == 1, waitlist


# --- how an offer ends ----------------------------------------------------------------------


def test_accept_twice_is_the_same_appointment(doctor):
    waiting = patient()
    entry = join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)

    first = offer_accept(offer_id=offer.pk, actor=waiting)
    again = offer_accept(offer_id=offer.pk, actor=waiting)

    assert first.pk == again.pk
    assert Appointment.objects.filter(slot=slot, status="scheduled").count() == 1
    entry.refresh_from_db()
    assert (entry.status, entry.appointment_id) == ("fulfilled", first.pk)


def test_decline_is_idempotent_and_a_declined_offer_cannot_be_accepted(doctor):
    waiting = patient()
    join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)

    offer_decline(offer_id=offer.pk, actor=waiting)
    offer_decline(offer_id=offer.pk, actor=waiting)

    with pytest.raises(DomainError) as refused:
        offer_accept(offer_id=offer.pk, actor=waiting)
    assert refused.value.code == "offer_not_open"
    slot.refresh_from_db()
    assert (slot.status, slot.held_until) == (Slot.Status.OPEN, None)
    assert WaitlistEntry.objects.get(patient=waiting).status == "active"


def test_an_accepted_offer_cannot_be_declined(doctor):
    waiting = patient()
    join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)
    offer_accept(offer_id=offer.pk, actor=waiting)

    with pytest.raises(DomainError) as refused:
        offer_decline(offer_id=offer.pk, actor=waiting)
    assert refused.value.code == "offer_not_open"


def test_staff_accept_for_the_patient_but_the_clinician_may_not(doctor):
    waiting = patient()
    join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)

    with pytest.raises(DomainError) as refused:
        offer_accept(offer_id=offer.pk, actor=doctor)
    assert refused.value.code == "role_not_allowed"
    booked = offer_accept(offer_id=offer.pk, actor=StaffFactory())
    assert booked.patient_id == waiting.pk


def test_another_patients_offer_is_not_found(doctor):
    waiting = patient()
    join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)

    with pytest.raises(DomainError) as refused:
        offer_accept(offer_id=live_offer(slot).pk, actor=patient())
    assert refused.value.status == 404


def test_reading_an_offer_past_its_deadline_expires_it_and_passes_it_on(doctor):
    first, second = patient(), patient()
    join(first, doctor)
    join(second, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)
    past_deadline(offer)

    seen = offer_touch(offer_id=offer.pk, user=first)

    assert seen.status == "expired"
    assert live_offer(slot).patient_id == second.pk


def test_the_sweep_expires_due_offers_and_passes_them_on(doctor):
    first, second = patient(), patient()
    join(first, doctor)
    join(second, doctor, mode=Mode.IN_PERSON)
    slot_a, appointment_a = booked_slot(doctor, hours=48)
    cancel(appointment_a)
    offer = live_offer(slot_a)
    assert offer.patient_id == first.pk

    assert offers_expire_due() == 0  # nothing due yet
    past_deadline(offer)
    assert offers_expire_due() == 1

    offer.refresh_from_db()
    assert offer.status == "expired"
    assert live_offer(slot_a).patient_id == second.pk
    past_deadline(live_offer(slot_a))
    assert offers_expire_due() == 1
    slot_a.refresh_from_db()  # nobody left who has not had it: open again
    assert (slot_a.status, slot_a.held_until) == (Slot.Status.OPEN, None)
    assert WaitlistEntry.objects.filter(status="active").count() == 2


def test_leaving_the_waitlist_withdraws_a_live_offer_and_passes_it_on(doctor):
    first, second = patient(), patient()
    entry = join(first, doctor)
    join(second, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)

    removed = entry_remove(entry_id=entry.pk, actor=first)

    assert (removed.status, removed.ended_by_id) == ("removed", first.pk)
    offer.refresh_from_db()
    assert offer.status == "declined"
    assert live_offer(slot).patient_id == second.pk
    assert entry_remove(entry_id=entry.pk, actor=first).status == "removed"  # again: the same


def test_joining_again_after_leaving_is_allowed(doctor):
    waiting = patient()
    entry = join(waiting, doctor)
    entry_remove(entry_id=entry.pk, actor=waiting)

    again = join(waiting, doctor)

    assert again.pk != entry.pk
    assert again.status == "active"


# --- when an entry ends -------------------------------------------------------------------


def test_booking_the_clinician_by_any_path_inside_the_window_fulfils_the_entry(doctor):
    waiting = patient()
    slot = slot_for(doctor, 72)
    entry = join(waiting, doctor, not_before=slot.start.date())

    appointment = appointment_book(patient=waiting, slot_id=slot.pk)

    entry.refresh_from_db()
    assert (entry.status, entry.appointment_id) == ("fulfilled", appointment.pk)


def test_a_booking_outside_the_window_leaves_the_entry_waiting(doctor):
    waiting = patient()
    slot = slot_for(doctor, 72)
    entry = join(waiting, doctor, not_after=slot.start.date() - timedelta(days=1))

    appointment_book(patient=waiting, slot_id=slot.pk)

    entry.refresh_from_db()
    assert entry.status == "active"


def test_the_held_patient_booking_the_slot_directly_accepts_the_offer(doctor, client_for):
    waiting = patient()
    join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)

    response = client_for(waiting).post(
        "/api/v1/appointments/", {"slot": slot.pk}, format="json", HTTP_IDEMPOTENCY_KEY="direct-1"
    )

    assert response.status_code == 201, response.json()
    offer.refresh_from_db()
    assert (offer.status, offer.appointment_id) == ("accepted", response.json()["id"])


def test_an_offer_of_another_slot_is_settled_after_the_patient_books_elsewhere(doctor):
    waiting, next_in_line = patient(), patient()
    join(waiting, doctor)
    slot_b, appointment_b = booked_slot(doctor, hours=96)
    cancel(appointment_b)
    offer_b = live_offer(slot_b)
    assert offer_b.patient_id == waiting.pk
    join(next_in_line, doctor)
    slot_a = slot_for(doctor, 48)

    appointment_book(patient=waiting, slot_id=slot_a.pk)  # fulfils the entry
    deliver_all("waitlist.fulfilled")  # the worker, after commit

    offer_b.refresh_from_db()
    assert offer_b.status == "declined"
    assert live_offer(slot_b).patient_id == next_in_line.pk


def test_the_sweep_settles_an_offer_whose_entry_ended(doctor):
    waiting = patient()
    entry = join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)
    # as if the subscriber had not run yet: the entry ended, the offer still live
    WaitlistEntry.objects.filter(pk=entry.pk).update(status="removed", ended_at=timezone.now())

    offers_expire_due()

    offer.refresh_from_db()
    assert offer.status == "declined"
    slot.refresh_from_db()
    assert (slot.status, slot.held_until) == (Slot.Status.OPEN, None)


# --- joining ----------------------------------------------------------------------------------


def test_a_second_active_entry_is_a_duplicate(doctor):
    waiting = patient()
    join(waiting, doctor)
    with pytest.raises(DomainError) as refused:
        join(waiting, doctor)
    assert (refused.value.status, refused.value.code) == (409, "waitlist_duplicate")


@pytest.mark.parametrize(
    ("constraints", "field"),
    [
        ({"not_before": "later", "not_after": "sooner"}, "not_after"),
        ({"not_after": "past"}, "not_after"),
        ({"weekdays": [7]}, "weekdays"),
        ({"weekdays": ["a", 1]}, "weekdays"),
        ({"weekdays": [True]}, "weekdays"),
        ({"mode": "telepathy"}, "mode"),
        ({"priority": 40000}, "priority"),
        ({"priority": 101}, "priority"),
        ({"priority": -101}, "priority"),
    ],
)
def test_bad_constraints_are_refused_and_nothing_is_saved(doctor, constraints, field):
    today = timezone.now().date()
    dates = {"later": today + timedelta(days=5), "sooner": today + timedelta(days=2)}
    dates["past"] = today - timedelta(days=2)
    values = {k: dates.get(v, v) if isinstance(v, str) else v for k, v in constraints.items()}
    with pytest.raises(DomainError) as refused:
        entry_join(patient=patient(), clinician=doctor, actor=StaffFactory(), **values)
    assert refused.value.code == "invalid_waitlist"
    assert field in refused.value.details["fields"]
    assert not WaitlistEntry.objects.exists()


def test_only_patients_wait_and_only_for_clinicians(doctor):
    with pytest.raises(DomainError) as not_a_clinician:
        join(patient(), patient())
    assert not_a_clinician.value.code == "clinician_not_found"
    with pytest.raises(DomainError) as not_a_patient:
        entry_join(patient=doctor, clinician=DoctorFactory(), actor=doctor)
    assert not_a_patient.value.code == "role_not_allowed"
    with pytest.raises(DomainError) as for_someone_else:
        entry_join(patient=patient(), clinician=doctor, actor=patient())
    assert for_someone_else.value.code == "role_not_allowed"


def test_counts_for_the_dashboard(doctor):
    first, second, third = patient(), patient(), patient()
    for person in (first, second, third):
        join(person, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)

    assert waitlist_counts(doctor) == (3, 1)
    past_deadline(live_offer(slot))
    assert waitlist_counts(doctor) == (3, 0)


def test_offer_steps_are_counted_after_commit(doctor, django_capture_on_commit_callbacks):
    from waitlist.metrics import WAITLIST_OFFERS

    def counted(step: str) -> float:
        return WAITLIST_OFFERS.labels(step=step)._value.get()

    before = {step: counted(step) for step in ("offered", "declined")}
    first, second = patient(), patient()
    join(first, doctor)
    join(second, doctor)
    slot, appointment = booked_slot(doctor)
    with django_capture_on_commit_callbacks(execute=True):
        cancel(appointment)
        offer_decline(offer_id=live_offer(slot).pk, actor=first)

    assert counted("offered") - before["offered"] == 2
    assert counted("declined") - before["declined"] == 1


def test_an_offer_of_a_withdrawn_slot_is_withdrawn_by_the_sweep(doctor):
    waiting = patient()
    join(waiting, doctor)
    slot, appointment = booked_slot(doctor)
    cancel(appointment)
    offer = live_offer(slot)
    Slot.objects.filter(pk=slot.pk).update(status=Slot.Status.WITHDRAWN)  # as slot_withdraw

    with pytest.raises(DomainError) as refused:
        offer_accept(offer_id=offer.pk, actor=waiting)
    assert refused.value.code == "slot_unavailable"
    offers_expire_due()

    offer.refresh_from_db()
    assert offer.status == "declined"
    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id, slot.held_until) == (Slot.Status.WITHDRAWN, None, None)
    assert WaitlistEntry.objects.get(patient=waiting).status == "active"


def test_a_reschedule_into_the_window_fulfils_the_entry(doctor):
    waiting = patient()
    far = slot_for(doctor, 24 * 20)
    appointment = appointment_book(patient=waiting, slot_id=far.pk)
    near = slot_for(doctor, 48)
    entry = join(waiting, doctor, not_after=near.start.date())  # waits for an earlier visit

    appointment_reschedule(actor=waiting, appointment_id=appointment.pk, new_slot_id=near.pk)

    entry.refresh_from_db()
    assert (entry.status, entry.appointment_id) == ("fulfilled", appointment.pk)
