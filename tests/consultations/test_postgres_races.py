"""Races on real PostgreSQL: idempotent creation and one winner per lifecycle move."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connections

from audit.models import AuditEvent
from consultations.models import Consultation
from consultations.services import consultation_ensure_for_appointment
from tests.factories import DoctorFactory, PatientFactory, appointment_for, scheduled_consultation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 12


def race(calls: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except Exception as exc:  # a crash is a result the test must see
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_ensures_create_one_consultation():
    # given an appointment without a consultation (its event still in flight)
    appointment = appointment_for(DoctorFactory(), PatientFactory())
    # when the subscriber and many reads ensure it at the same moment
    results = race(
        [lambda: consultation_ensure_for_appointment(appointment_id=appointment.pk)] * RACERS
    )
    # then every caller got the same row, created and audited once
    assert all(isinstance(r, Consultation) for r in results), results
    assert len({r.pk for r in results if isinstance(r, Consultation)}) == 1
    assert Consultation.objects.filter(appointment=appointment).count() == 1
    assert AuditEvent.objects.filter(action="consultation.create").count() == 1


def test_concurrent_starts_have_one_winner(client_for):
    # given a scheduled consultation and its clinician on several connections
    doctor = DoctorFactory()
    consultation = scheduled_consultation(doctor, PatientFactory())
    clients = [client_for(doctor) for _ in range(RACERS)]
    url = f"/api/v1/consultations/{consultation.pk}/status/"

    def start(client):
        def call():
            response = client.patch(url, {"status": "in_progress"}, format="json")
            return response.status_code

        return call

    # when all of them start it at once
    outcomes = Counter(race([start(client) for client in clients]))
    # then exactly one moved it; the rest saw the new state and got 409
    assert outcomes == Counter({200: 1, 409: RACERS - 1})
    assert AuditEvent.objects.filter(action="consultation.status_change").count() == 1
