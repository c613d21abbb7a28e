"""Series racing on real PostgreSQL: many series over overlapping slots at once, through
the real HTTP stack, each racer a thread with its own connection (the harness of
``test_postgres_races``). No slot ends above its capacity, and with ``fail`` every series
is whole or absent."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from django.db.models import Count, Q

from scheduling.models import Appointment, AppointmentSeries, Slot
from tests.factories import DoctorFactory, PatientFactory
from tests.scheduling.test_postgres_races import _outcomes, _post, _race
from tests.scheduling.test_series import SERIES, next_weekday_at, weekly_slots

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ACTIVE = Q(appointments__status__in=Appointment.ACTIVE_STATUSES)


def _series(client, slot: Slot, count: int, on_conflict: str = "fail"):
    body = {"slot": slot.pk, "count": count, "on_conflict": on_conflict}
    return _post(client, SERIES, body, {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())})


def _assert_within_capacity(slots: list[Slot]) -> None:
    held = Slot.objects.filter(pk__in=[s.pk for s in slots]).annotate(
        live=Count("appointments", filter=ACTIVE)
    )
    for slot in held:
        assert slot.live <= slot.capacity, (slot.pk, slot.live, slot.capacity)
        assert slot.seats_taken == slot.live  # the counter agrees with the rows


def test_series_racing_over_overlapping_slots_are_whole_or_absent(client_for):
    # given six weekly one-seat slots and 16 patients: half ask for weeks 1-4, half 3-6
    doctor = DoctorFactory(time_zone="Europe/Berlin")
    slots = weekly_slots(doctor, next_weekday_at(10), 6)
    clients = [client_for(PatientFactory()) for _ in range(16)]

    # when they all post their series of four at once
    results = _race([_series(c, slots[0 if i % 2 else 2], 4) for i, c in enumerate(clients)])

    # then every answer is 201 or 409 series_conflict, no 5xx, no crash
    outcomes = _outcomes(results)
    assert set(outcomes) <= {(201, "ok"), (409, "series_conflict")}, outcomes
    assert outcomes[(201, "ok")] >= 1
    # and no slot holds more than its one seat
    _assert_within_capacity(slots)
    # and each series that exists is whole: four live appointments, one per week
    for series in AppointmentSeries.objects.annotate(live=Count("appointments", filter=ACTIVE)):
        assert series.live == series.count == 4
    assert Appointment.objects.filter(series__isnull=True).count() == 0
    assert AppointmentSeries.objects.count() == outcomes[(201, "ok")]


def test_group_slots_raced_by_series_never_exceed_their_capacity(client_for):
    # given six weekly group slots of three seats and 12 patients racing, some skipping
    doctor = DoctorFactory(time_zone="Europe/Berlin")
    slots = weekly_slots(doctor, next_weekday_at(16), 6)
    Slot.objects.filter(pk__in=[s.pk for s in slots]).update(capacity=3)
    clients = [client_for(PatientFactory()) for _ in range(12)]
    calls = [
        _series(c, slots[i % 3], 3, "skip" if i % 4 == 0 else "fail") for i, c in enumerate(clients)
    ]

    results = _race(calls)

    outcomes = _outcomes(results)
    assert set(outcomes) <= {(201, "ok"), (409, "series_conflict")}, outcomes
    _assert_within_capacity(slots)
    for series in AppointmentSeries.objects.annotate(live=Count("appointments", filter=ACTIVE)):
        if series.on_conflict == "fail":
            assert series.live == series.count, series.pk
        else:
            assert series.live + len(series.skipped) == series.count, series.pk
    # 18 seats; the fail-series that got in are whole, so seats used is what they hold
    assert sum(Counter(a.slot_id for a in Appointment.objects.all()).values()) <= 18


def test_one_patient_racing_two_series_with_two_clinicians_gets_one(client_for):
    # given two doctors with slots at the same times and one patient's two clients
    patient = PatientFactory()
    first = weekly_slots(DoctorFactory(time_zone="Europe/Berlin"), next_weekday_at(12), 3)
    second = weekly_slots(DoctorFactory(time_zone="Europe/Berlin"), next_weekday_at(12), 3)
    clients = [client_for(patient), client_for(patient)]

    results = _race([_series(clients[0], first[0], 3), _series(clients[1], second[0], 3)])

    # then one series is booked and the other is refused for the patient's overlap
    assert _outcomes(results) == Counter({(201, "ok"): 1, (409, "series_conflict"): 1})
    refused = next(r for r in results if isinstance(r, tuple) and r[0] == 409)
    codes = {c["code"] for c in refused[1]["error"]["details"]["conflicts"]}
    assert codes == {"patient_overlap"}
    assert Appointment.objects.filter(patient=patient, status="scheduled").count() == 3
