"""Slot holds (issue #16's hold mechanism): ``scheduling.services.holds`` and booking."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import InvalidRequest
from core.models import OutboxEvent
from scheduling import services
from scheduling.errors import PatientOverlap, SlotHeld, SlotNotFound, SlotUnavailable
from scheduling.models import Appointment, Slot
from scheduling.selectors import slots_list
from scheduling.services.holds import hold_deadline, slot_hold, slot_release
from tests.factories import PatientFactory
from tests.scheduling.test_group_sessions import statement_shape

pytestmark = pytest.mark.django_db

BOOK = "/api/v1/appointments/"
AVAILABILITY = "/api/v1/availability/"


def _book(client_for, patient, slot):
    key = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
    return client_for(patient).post(BOOK, {"slot": slot.pk}, format="json", **key)


def _expire(slot: Slot) -> None:
    Slot.objects.filter(pk=slot.pk).update(held_until=timezone.now() - timedelta(seconds=1))


def test_a_held_slot_is_409_slot_held_for_another_and_201_for_the_held_patient(
    client_for, doctor, slot_at
):
    slot = slot_at(doctor, 48)
    held, other = PatientFactory(), PatientFactory()
    slot_hold(slot_id=slot.pk, patient=held)

    refused = _book(client_for, other, slot)
    booked = _book(client_for, held, slot)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "slot_held"
    assert booked.status_code == 201, booked.content
    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id, slot.held_until) == (Slot.Status.BOOKED, None, None)
    assert Appointment.objects.get(slot=slot).patient_id == held.pk


def test_an_expired_hold_blocks_nobody(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48)
    slot_hold(slot_id=slot.pk, patient=PatientFactory())
    _expire(slot)
    other = PatientFactory()

    response = _book(client_for, other, slot)

    assert response.status_code == 201, response.content
    slot.refresh_from_db()
    assert (slot.status, slot.held_for_id, slot.held_until) == (Slot.Status.BOOKED, None, None)


def test_a_hold_sets_status_held_and_hides_the_slot_from_the_open_list(
    client_for, doctor, patient, slot_at
):
    slot, free = slot_at(doctor, 48), slot_at(doctor, 72)
    hold_for = PatientFactory()
    slot_hold(slot_id=slot.pk, patient=hold_for)

    open_ids = [
        s["id"] for s in client_for(patient).get(AVAILABILITY, {"status": "open"}).json()["results"]
    ]
    held_ids = [s["id"] for s in client_for(patient).get(AVAILABILITY).json()["results"]]
    as_doctor = client_for(doctor).get(AVAILABILITY, {"status": "held"}).json()["results"]

    assert open_ids == [free.pk]
    assert held_ids == [free.pk]  # a patient sees open slots only
    assert [(s["id"], s["status"], s["seats_left"]) for s in as_doctor] == [(slot.pk, "held", 0)]
    assert [s.pk for s in slots_list(user=patient, status="open")] == [free.pk]


def test_a_hold_on_a_group_slot_keeps_one_seat(client_for, doctor, slot_at):
    slot = slot_at(doctor, 48, capacity=3)
    held = PatientFactory()
    slot_hold(slot_id=slot.pk, patient=held)
    slot.refresh_from_db()
    assert (slot.status, slot.seats_left) == (Slot.Status.OPEN, 2)

    # two others take the free seats: the last one is the held one
    for _ in range(2):
        assert _book(client_for, PatientFactory(), slot).status_code == 201
    slot.refresh_from_db()
    assert (slot.status, slot.seats_taken, slot.seats_left) == (Slot.Status.HELD, 2, 0)
    refused = _book(client_for, PatientFactory(), slot)
    assert refused.json()["error"]["code"] == "slot_held"

    assert _book(client_for, held, slot).status_code == 201
    slot.refresh_from_db()
    assert (slot.status, slot.seats_taken, slot.held_for_id) == (Slot.Status.BOOKED, 3, None)


def test_a_cancelled_seat_of_a_held_group_slot_opens_it_again(doctor, slot_at):
    slot = slot_at(doctor, 48, capacity=2)
    first = services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    slot_hold(slot_id=slot.pk, patient=PatientFactory())
    slot.refresh_from_db()
    assert slot.status == Slot.Status.HELD

    services.appointment_cancel(appointment_id=first.pk, actor=first.patient)

    slot.refresh_from_db()
    assert (slot.status, slot.seats_left) == (Slot.Status.OPEN, 1)


def test_release_opens_the_slot_records_it_and_is_safe_to_repeat(doctor, slot_at):
    slot = slot_at(doctor, 48)
    patient = PatientFactory()
    slot_hold(slot_id=slot.pk, patient=patient)

    released = slot_release(slot_id=slot.pk)
    again = slot_release(slot_id=slot.pk)

    assert (released.status, released.held_for_id, released.held_until) == ("open", None, None)
    assert again.status == "open"
    actions = list(
        AuditEvent.objects.filter(object_id=str(slot.pk), action__startswith="slot.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["slot.held", "slot.released"]
    events = {e.name: e.payload for e in OutboxEvent.objects.filter(name__startswith="slot.")}
    assert sorted(events) == ["slot.held", "slot.released"]
    assert events["slot.held"] == {
        "slot_id": slot.pk,
        "clinician_id": doctor.pk,
        "patient_id": patient.pk,
        "actor_id": None,
    }


def test_hold_refusals(doctor, slot_at):
    patient = PatientFactory()
    booked = slot_at(doctor, 48)
    services.appointment_book(patient=PatientFactory(), slot_id=booked.pk)
    held = slot_at(doctor, 72)
    slot_hold(slot_id=held.pk, patient=PatientFactory())
    group = slot_at(doctor, 96, capacity=3)
    services.appointment_book(patient=patient, slot_id=group.pk)

    with pytest.raises(SlotUnavailable):
        slot_hold(slot_id=booked.pk, patient=patient)
    with pytest.raises(SlotHeld):
        slot_hold(slot_id=held.pk, patient=patient)
    with pytest.raises(PatientOverlap):
        slot_hold(slot_id=group.pk, patient=patient)
    with pytest.raises(SlotNotFound):
        slot_hold(slot_id=10**12, patient=patient)
    with pytest.raises(InvalidRequest):
        slot_hold(slot_id=slot_at(doctor, 120).pk, patient=patient, until=timezone.now())


def test_an_expired_hold_may_be_replaced(doctor, slot_at):
    slot = slot_at(doctor, 48)
    slot_hold(slot_id=slot.pk, patient=PatientFactory())
    _expire(slot)
    second = PatientFactory()

    held = slot_hold(slot_id=slot.pk, patient=second)

    assert (held.status, held.held_for_id) == (Slot.Status.HELD, second.pk)


@override_settings(WAITLIST_HOLD_SECONDS=60)
def test_the_default_deadline_is_waitlist_hold_seconds(doctor, slot_at):
    before = timezone.now()
    held = slot_hold(slot_id=slot_at(doctor, 48).pk, patient=PatientFactory())
    assert held.held_until is not None
    assert before + timedelta(seconds=60) <= held.held_until <= hold_deadline()


@pytest.mark.postgres
def test_the_database_keeps_a_hold_whole(doctor, slot_at):
    slot = slot_at(doctor, 48)
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(held_until=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(status=Slot.Status.HELD)


def _statements(slot: Slot, patient) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        services.appointment_book(patient=patient, slot_id=slot.pk)
    return [
        statement_shape(q["sql"]) for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]
    ]


@pytest.mark.postgres
def test_booking_a_held_or_expired_slot_costs_the_statements_of_an_open_one(doctor, slot_at):
    _statements(slot_at(doctor, 40), PatientFactory())  # per-process caches warm
    plain = _statements(slot_at(doctor, 44), PatientFactory())
    held, held_for = slot_at(doctor, 48), PatientFactory()
    slot_hold(slot_id=held.pk, patient=held_for)
    expired = slot_at(doctor, 52)
    slot_hold(slot_id=expired.pk, patient=PatientFactory())
    _expire(expired)

    assert plain[:2] == ["SELECT", "WITH UPDATE INSERT"]  # the slot's one UPDATE
    assert _statements(held, held_for) == plain  # the hold consumed in the one UPDATE
    assert _statements(expired, PatientFactory()) == plain  # released in the one UPDATE


def test_the_booking_lock_reads_the_hold(doctor, slot_at):
    from scheduling.lock_objects import slot_lock_for_booking

    slot, patient = slot_at(doctor, 48), PatientFactory()
    held = slot_hold(slot_id=slot.pk, patient=patient)
    with transaction.atomic():
        locked = slot_lock_for_booking(slot.pk)
    assert locked is not None
    assert (locked[0].status, locked[0].held_for_id, locked[0].held_until) == (
        Slot.Status.HELD,
        patient.pk,
        held.held_until,
    )


def test_a_reschedule_into_a_held_slot_is_refused(doctor, slot_at):
    moving = services.appointment_book(patient=PatientFactory(), slot_id=slot_at(doctor, 48).pk)
    target = slot_at(doctor, 72)
    slot_hold(slot_id=target.pk, patient=PatientFactory())

    with pytest.raises(SlotUnavailable):
        services.appointment_reschedule(
            actor=moving.patient, appointment_id=moving.pk, new_slot_id=target.pk
        )
    target.refresh_from_db()
    assert (target.status, target.seats_taken) == (Slot.Status.HELD, 0)
