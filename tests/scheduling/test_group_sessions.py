"""Group sessions (a slot with several seats) and the front desk (staff booking for a
patient), through the services. Given / when / then.

The database side (PostgreSQL): a seat beyond the capacity and a second seat of one
patient are refused even to raw SQL; lowering a capacity below a held seat is refused.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.errors import DomainError
from scheduling import services
from scheduling.models import Appointment, Slot
from scheduling.services._common import constraint_name
from tests.factories import DoctorFactory, PatientFactory, StaffFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db


def _code(excinfo: pytest.ExceptionInfo[DomainError]) -> str:
    return str(excinfo.value.code)


@pytest.fixture
def group_slot(doctor, slot_at):
    """``group_slot(capacity, hours=48)`` → an open slot with that many seats."""

    def make(capacity: int, hours: float = 48) -> Slot:
        return slot_at(doctor, hours, capacity=capacity)

    return make


def _book(slot: Slot, patient: Any = None, **kwargs: Any) -> Appointment:
    who: Any = patient or PatientFactory()
    return services.appointment_book(patient=who, slot_id=slot.pk, **kwargs)


def _seats(slot: Slot) -> list[int]:
    live = Appointment.objects.filter(slot=slot).exclude(status=Appointment.Status.CANCELLED)
    return sorted(live.values_list("seat", flat=True))


# --- seats -----------------------------------------------------------------------------


def test_each_attendee_takes_the_next_seat_and_the_slot_stays_open_until_full(group_slot):
    slot = group_slot(3)

    first, second = _book(slot), _book(slot)
    slot.refresh_from_db()
    assert (first.seat, second.seat) == (1, 2)
    assert (slot.status, slot.seats_taken, slot.seats_left) == ("open", 2, 1)

    third = _book(slot)
    slot.refresh_from_db()
    assert third.seat == 3
    assert (slot.status, slot.seats_taken, slot.seats_left) == ("booked", 3, 0)
    # each attendee has an appointment of their own
    assert len({first.patient_id, second.patient_id, third.patient_id}) == 3


def test_a_full_group_slot_is_slot_full_and_a_taken_one_seat_slot_slot_unavailable(
    group_slot,
):
    full, single = group_slot(2), group_slot(1, hours=50)
    _book(full), _book(full), _book(single)

    with pytest.raises(DomainError) as group_refusal:
        _book(full)
    with pytest.raises(DomainError) as single_refusal:
        _book(single)

    assert (_code(group_refusal), group_refusal.value.status) == ("slot_full", 409)
    assert (_code(single_refusal), single_refusal.value.status) == ("slot_unavailable", 409)
    assert _seats(full) == [1, 2]
    assert _seats(single) == [1]


def test_cancelling_frees_exactly_one_seat_and_the_next_booking_takes_it(group_slot):
    slot = group_slot(3)
    first, second, third = _book(slot), _book(slot), _book(slot)

    services.appointment_cancel(actor=second.patient, appointment_id=second.pk)

    slot.refresh_from_db()
    assert (slot.status, slot.seats_taken) == ("open", 2)
    assert _seats(slot) == [1, 3]
    again = _book(slot)
    assert again.seat == 2  # the lowest free seat
    slot.refresh_from_db()
    assert (slot.status, slot.seats_taken) == ("booked", 3)
    assert {first.status, third.status} == {"scheduled"}


def test_one_patient_cannot_take_two_seats_of_a_slot(group_slot, patient):
    slot = group_slot(5)
    _book(slot, patient)

    with pytest.raises(DomainError) as excinfo:
        _book(slot, patient)

    assert _code(excinfo) == "patient_overlap"
    slot.refresh_from_db()
    assert slot.seats_taken == 1
    assert _seats(slot) == [1]


def test_rescheduling_into_and_out_of_a_group_slot_moves_one_seat(doctor, slot_at, group_slot):
    group = group_slot(2)
    _book(group)
    single = slot_at(doctor, 60)
    mover = _book(single)

    moved = services.appointment_reschedule(
        actor=mover.patient, appointment_id=mover.pk, new_slot_id=group.pk
    )
    group.refresh_from_db()
    single.refresh_from_db()
    assert moved.seat == 2
    assert (group.status, group.seats_taken) == ("booked", 2)
    assert (single.status, single.seats_taken) == ("open", 0)

    back = services.appointment_reschedule(
        actor=mover.patient, appointment_id=mover.pk, new_slot_id=single.pk
    )
    group.refresh_from_db()
    single.refresh_from_db()
    assert back.seat == 1
    assert (group.status, group.seats_taken) == ("open", 1)
    assert (single.status, single.seats_taken) == ("booked", 1)


def test_rescheduling_into_a_full_group_slot_is_slot_full(doctor, slot_at, group_slot):
    full = group_slot(2)
    _book(full), _book(full)
    mover = _book(slot_at(doctor, 60))

    with pytest.raises(DomainError) as excinfo:
        services.appointment_reschedule(
            actor=mover.patient, appointment_id=mover.pk, new_slot_id=full.pk
        )

    assert _code(excinfo) == "slot_full"
    assert _seats(full) == [1, 2]


def test_a_group_slot_with_a_seat_held_cannot_be_withdrawn(doctor, group_slot):
    slot = group_slot(4)
    _book(slot)

    with pytest.raises(DomainError) as excinfo:
        services.slot_withdraw(actor=doctor, slot_id=slot.pk)

    assert _code(excinfo) == "slot_booked"
    slot.refresh_from_db()
    assert slot.status == "open"


@pytest.mark.parametrize("capacity", [0, 51, True])
def test_slot_create_refuses_a_capacity_out_of_range(doctor, capacity):
    start = hours_from_now(48)
    with pytest.raises(DomainError) as excinfo:
        services.slot_create(
            clinician=doctor, start=start, end=start + timedelta(hours=1), capacity=capacity
        )
    assert _code(excinfo) == "invalid_availability"
    assert not Slot.objects.exists()


def test_slot_create_gives_every_piece_the_capacity(doctor):
    start = hours_from_now(48)
    slots = services.slot_create(
        clinician=doctor, start=start, end=start + timedelta(hours=1), slot_minutes=30, capacity=8
    )
    assert [(s.capacity, s.seats_left) for s in slots] == [(8, 8), (8, 8)]


# --- the front desk --------------------------------------------------------------------


def test_staff_books_for_a_patient_audited_with_staff_as_actor(group_slot, patient):
    staff = StaffFactory()
    slot = group_slot(1)

    appointment = _book(slot, patient, actor=staff, reason="By phone")

    assert appointment.patient_id == patient.pk
    row = AuditEvent.objects.get(action="appointment.book", object_id=str(appointment.pk))
    assert (row.actor_id, row.actor_role) == (staff.pk, "staff")
    assert row.metadata == {"patient_id": patient.pk}
    assert "By phone" not in str(row.changes)  # the reason is fingerprinted, as always


def test_a_self_booking_names_no_other_subject(group_slot, patient):
    appointment = _book(group_slot(1), patient, actor=patient)

    row = AuditEvent.objects.get(action="appointment.book", object_id=str(appointment.pk))
    assert (row.actor_id, row.metadata) == (patient.pk, {})


@pytest.mark.parametrize("make_actor", [PatientFactory, DoctorFactory])
def test_only_staff_may_book_for_someone_else(group_slot, patient, make_actor):
    slot = group_slot(1)

    with pytest.raises(DomainError) as excinfo:
        _book(slot, patient, actor=make_actor())

    assert (_code(excinfo), excinfo.value.status) == ("role_not_allowed", 403)
    slot.refresh_from_db()
    assert (slot.status, slot.seats_taken) == ("open", 0)


def test_staff_cannot_book_a_seat_for_a_non_patient(group_slot):
    with pytest.raises(DomainError) as excinfo:
        _book(group_slot(1), DoctorFactory(), actor=StaffFactory())
    assert _code(excinfo) == "role_not_allowed"


def test_staff_cancels_a_patients_seat(group_slot):
    slot = group_slot(2)
    booked = _book(slot)

    services.appointment_cancel(actor=StaffFactory(), appointment_id=booked.pk)

    slot.refresh_from_db()
    assert (slot.status, slot.seats_taken) == ("open", 0)


# --- the database's guarantee (PostgreSQL) ---------------------------------------------

_RAW_INSERT = (
    "INSERT INTO scheduling_appointment (slot_id, seat, patient_id, clinician_id, start,"
    ' "end", status, reason, notes, cancellation_reason, created_at, updated_at)'
    " VALUES (%s, %s, %s, %s, %s, %s, 'scheduled', '', '', '', now(), now())"
)


def _raw_insert(slot: Slot, seat: int, patient=None) -> None:
    patient = patient or PatientFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _RAW_INSERT, [slot.pk, seat, patient.pk, slot.clinician_id, slot.start, slot.end]
        )


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


@pytest.mark.postgres
def test_raw_sql_cannot_seat_beyond_the_capacity(group_slot):
    slot = group_slot(2)
    _book(slot), _book(slot)

    with pytest.raises(IntegrityError) as beyond:
        _raw_insert(slot, 3)
    with pytest.raises(IntegrityError) as taken:
        _raw_insert(slot, 2)

    assert _sqlstate(beyond.value) == "23514"  # check_violation, from the trigger
    assert constraint_name(beyond.value) == "appointment_seat_within_capacity"
    assert _sqlstate(taken.value) == "23505"  # the seat is held
    assert _seats(slot) == [1, 2]


@pytest.mark.postgres
def test_raw_sql_cannot_give_one_patient_two_seats(group_slot, patient):
    slot = group_slot(4)
    _book(slot, patient)

    with pytest.raises(IntegrityError) as excinfo:
        _raw_insert(slot, 2, patient)

    assert _sqlstate(excinfo.value) in {"23505", "23P01"}  # one seat each; no overlap
    assert _seats(slot) == [1]


@pytest.mark.postgres
def test_raw_sql_cannot_lower_the_capacity_below_a_held_seat(group_slot):
    slot = group_slot(4)
    for _ in range(3):
        _book(slot)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(capacity=2, seats_taken=2)

    assert constraint_name(excinfo.value) == "slot_capacity_above_held_seats"
    Slot.objects.filter(pk=slot.pk).update(capacity=3)  # down to the highest held seat: fine
    slot.refresh_from_db()
    assert (slot.capacity, slot.seats_left) == (3, 0)


def test_the_seat_counter_cannot_exceed_the_capacity(group_slot):
    slot = group_slot(2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(seats_taken=3)


# --- the hot path's statements (PostgreSQL) --------------------------------------------


def statement_shape(sql: str) -> str:
    """``SELECT``, ``INSERT``, …; a statement of several writes (core.sql's
    ``statements_together``) as ``WITH`` and the verbs of its parts, in order."""
    if not sql.startswith("WITH"):
        return sql.split()[0]
    return " ".join(["WITH", *re.findall(r"w\d+ AS \((UPDATE|INSERT)", sql)])


def _statements_of_a_booking(slot: Slot) -> list[str]:
    patient = PatientFactory()
    with CaptureQueriesContext(connection) as queries:
        _book(slot, patient)
    return [
        statement_shape(q["sql"])
        for q in queries.captured_queries
        # the waitlist's on_publish hook reads the patient's entry (waitlist/events.py)
        if "SAVEPOINT" not in q["sql"] and "waitlist_" not in q["sql"]
    ]


@pytest.mark.postgres
def test_a_one_seat_booking_reads_nothing_but_its_slot_lock(doctor, slot_at):
    _book(slot_at(doctor, 40))  # per-process caches warm
    statements = _statements_of_a_booking(slot_at(doctor, 48))
    # the slot lock is the one read; the slot's UPDATE (status and seat count) goes with
    # the appointment's INSERT; the audit row and the event with the consultation's INSERT
    assert statements == ["SELECT", "WITH UPDATE INSERT", "WITH INSERT INSERT INSERT"]


@pytest.mark.postgres
def test_a_group_booking_adds_one_query_once_a_seat_is_held(doctor, slot_at, group_slot):
    _book(slot_at(doctor, 40))  # per-process caches warm
    one_seat = _statements_of_a_booking(slot_at(doctor, 44))
    slot = group_slot(8)
    assert _statements_of_a_booking(slot) == one_seat  # the first seat: none held, no query
    # then: the slot lock, the seats held, and the same writes as a one-seat booking
    assert _statements_of_a_booking(slot) == [one_seat[0], "SELECT", *one_seat[1:]]
