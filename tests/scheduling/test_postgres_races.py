"""Race and constraint tests on real PostgreSQL (SPEC invariant 1).

Each racer is a thread with its own database connection, released together by a
barrier, going through the real HTTP stack (JWT, Idempotency-Key, services, locks).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, connections, transaction

from scheduling import services
from scheduling.errors import PatientOverlap, SlotOverlap
from scheduling.models import Appointment, Slot
from scheduling.services.availability import insert_slots
from scheduling.services.booking import _create_appointment
from tests.factories import DoctorFactory, PatientFactory
from tests.scheduling.conftest import hours_from_now

RACERS = 50
BOOK = "/api/v1/appointments/"


def _race(calls: list[Callable[[], object]]) -> list[object]:
    """Run every call at once, each in its own thread and database connection."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except Exception as exc:  # a crash is a result the test must see, not a hang
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _post(client, url: str, body: dict, headers: dict | None = None) -> Callable[[], object]:
    def call() -> tuple[int, dict]:
        response = client.post(url, body, format="json", **(headers or {}))
        return response.status_code, response.json()

    return call


def _outcomes(results: list[object]) -> Counter:
    return Counter(
        (r[0], r[1]["error"]["code"] if r[0] >= 400 else "ok") if isinstance(r, tuple) else r
        for r in results
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_patients_race_for_one_slot(client_for):
    doctor = DoctorFactory()
    slot = Slot.objects.create(clinician=doctor, start=hours_from_now(48), end=hours_from_now(48.5))
    clients = [client_for(PatientFactory()) for _ in range(RACERS)]

    results = _race(
        [
            _post(c, BOOK, {"slot": slot.pk}, {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())})
            for c in clients
        ]
    )

    assert _outcomes(results) == {(201, "ok"): 1, (409, "slot_unavailable"): RACERS - 1}
    active = Appointment.objects.filter(slot=slot).exclude(status="cancelled")
    assert active.count() == 1
    slot.refresh_from_db()
    assert slot.status == Slot.Status.BOOKED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_reschedules_race_onto_one_slot(client_for):
    doctor = DoctorFactory()
    target = Slot.objects.create(
        clinician=doctor, start=hours_from_now(24 * 5), end=hours_from_now(24 * 5 + 0.5)
    )
    calls = []
    for i in range(RACERS):
        patient = PatientFactory()
        start = hours_from_now(48 + i)
        slot = Slot.objects.create(clinician=doctor, start=start, end=start + timedelta(minutes=30))
        appointment = services.appointment_book(patient=patient, slot_id=slot.pk)
        calls.append(
            _post(
                client_for(patient),
                f"{BOOK}{appointment.pk}/reschedule/",
                {"slot": target.pk},
            )
        )

    results = _race(calls)

    assert _outcomes(results) == {(200, "ok"): 1, (409, "slot_unavailable"): RACERS - 1}
    assert Appointment.objects.filter(slot=target).count() == 1
    assert Appointment.objects.filter(status="scheduled").count() == RACERS
    assert Slot.objects.filter(status="booked").count() == RACERS
    moved = Appointment.objects.get(slot=target)
    assert Slot.objects.get(pk=moved.previous_slot_id).status == Slot.Status.OPEN


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_idempotency_key_sent_concurrently_books_once(client_for):
    doctor = DoctorFactory()
    slot = Slot.objects.create(clinician=doctor, start=hours_from_now(48), end=hours_from_now(48.5))
    client = client_for(PatientFactory())
    headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}

    results = _race([_post(client, BOOK, {"slot": slot.pk}, headers) for _ in range(10)])

    outcomes = _outcomes(results)
    assert set(outcomes) <= {(201, "ok"), (409, "idempotency_request_in_progress")}
    assert outcomes[(201, "ok")] >= 1
    assert Appointment.objects.count() == 1
    created = {r[1]["id"] for r in results if isinstance(r, tuple) and r[0] == 201}
    assert created == {Appointment.objects.get().pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_patient_racing_for_two_overlapping_slots_gets_one(client_for):
    patient = PatientFactory()
    start = hours_from_now(48)
    slots = [
        Slot.objects.create(clinician=DoctorFactory(), start=start, end=start + timedelta(hours=1))
        for _ in range(6)
    ]
    client = client_for(patient)

    results = _race(
        [
            _post(client, BOOK, {"slot": s.pk}, {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())})
            for s in slots
        ]
    )

    assert _outcomes(results) == {(201, "ok"): 1, (409, "patient_overlap"): 5}
    assert Appointment.objects.filter(patient=patient).count() == 1


# --- the database refuses on its own ---------------------------------------------------


def _sqlstate(exc: IntegrityError) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None)


@pytest.mark.postgres
@pytest.mark.django_db
def test_raw_overlapping_slot_insert_fails_with_23p01():
    doctor = DoctorFactory()
    start = hours_from_now(48)
    Slot.objects.create(clinician=doctor, start=start, end=start + timedelta(hours=1))

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            'INSERT INTO scheduling_slot (clinician_id, start, "end", mode, status, created_at)'
            " VALUES (%s, %s, %s, 'video', 'open', now())",
            [doctor.pk, start + timedelta(minutes=30), start + timedelta(minutes=90)],
        )

    assert _sqlstate(excinfo.value) == "23P01"
    assert Slot.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_raw_second_active_appointment_on_slot_fails_with_unique_violation():
    first = services.appointment_book(
        patient=PatientFactory(),
        slot_id=Slot.objects.create(
            clinician=DoctorFactory(), start=hours_from_now(48), end=hours_from_now(49)
        ).pk,
    )
    intruder = PatientFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO scheduling_appointment (slot_id, patient_id, clinician_id, start,"
            ' "end", status, reason, notes, cancellation_reason, created_at, updated_at)'
            " VALUES (%s, %s, %s, %s, %s, 'scheduled', '', '', '', now(), now())",
            [first.slot_id, intruder.pk, first.clinician_id, first.start, first.end],
        )

    assert _sqlstate(excinfo.value) == "23505"
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_raw_overlapping_appointment_of_one_patient_fails_with_23p01():
    patient = PatientFactory()
    first = services.appointment_book(
        patient=patient,
        slot_id=Slot.objects.create(
            clinician=DoctorFactory(), start=hours_from_now(48), end=hours_from_now(49)
        ).pk,
    )
    other = Slot.objects.create(
        clinician=DoctorFactory(), start=hours_from_now(48.5), end=hours_from_now(49.5)
    )

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO scheduling_appointment (slot_id, patient_id, clinician_id, start,"
            ' "end", status, reason, notes, cancellation_reason, created_at, updated_at)'
            " VALUES (%s, %s, %s, %s, %s, 'scheduled', '', '', '', now(), now())",
            [other.pk, patient.pk, other.clinician_id, other.start, other.end],
        )

    assert _sqlstate(excinfo.value) == "23P01"
    assert Appointment.objects.filter(patient=patient).get() == first


@pytest.mark.postgres
@pytest.mark.django_db
def test_slot_exclusion_violation_maps_to_slot_overlap():
    """The insert step alone (no friendly check before it) still answers slot_overlap."""
    doctor = DoctorFactory()
    start = hours_from_now(48)
    Slot.objects.create(clinician=doctor, start=start, end=start + timedelta(hours=1))
    clash = Slot(clinician=doctor, start=start + timedelta(minutes=30), end=hours_from_now(50))

    with pytest.raises(SlotOverlap), transaction.atomic():
        insert_slots([clash])

    assert Slot.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_patient_exclusion_violation_maps_to_patient_overlap():
    patient = PatientFactory()
    services.appointment_book(
        patient=patient,
        slot_id=Slot.objects.create(
            clinician=DoctorFactory(), start=hours_from_now(48), end=hours_from_now(49)
        ).pk,
    )
    other = Slot.objects.create(
        clinician=DoctorFactory(), start=hours_from_now(48.5), end=hours_from_now(49.5)
    )

    with pytest.raises(PatientOverlap), transaction.atomic():
        _create_appointment(
            slot=other,
            patient=patient,
            clinician_id=other.clinician_id,
            start=other.start,
            end=other.end,
        )

    assert Appointment.objects.filter(patient=patient).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_patient_overlap_with_two_clinicians_is_409_on_postgres(client_for):
    patient = PatientFactory()
    first = Slot.objects.create(
        clinician=DoctorFactory(), start=hours_from_now(48), end=hours_from_now(49)
    )
    second = Slot.objects.create(
        clinician=DoctorFactory(), start=hours_from_now(48.5), end=hours_from_now(49.5)
    )
    client = client_for(patient)

    booked = client.post(BOOK, {"slot": first.pk}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    refused = client.post(BOOK, {"slot": second.pk}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    assert booked.status_code == 201
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "patient_overlap"
    # named after the refused booking rolled back, without a savepoint around the insert
    assert refused.json()["error"]["details"] == {"appointments": [booked.json()["id"]]}
    assert Appointment.objects.filter(patient=patient).count() == 1
    second.refresh_from_db()
    assert second.status == Slot.Status.OPEN


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancelled_slot_can_be_booked_again_on_postgres(client_for):
    slot = Slot.objects.create(
        clinician=DoctorFactory(), start=hours_from_now(48), end=hours_from_now(49)
    )
    first_client, second_client = client_for(PatientFactory()), client_for(PatientFactory())
    first = first_client.post(BOOK, {"slot": slot.pk}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    cancelled = first_client.post(f"{BOOK}{first.json()['id']}/cancel/", {"reason": "x"})
    again = second_client.post(BOOK, {"slot": slot.pk}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    assert cancelled.status_code == 200
    assert again.status_code == 201
    statuses = sorted(Appointment.objects.filter(slot=slot).values_list("status", flat=True))
    assert statuses == ["cancelled", "scheduled"]
