"""PostgreSQL: the audit trail under concurrency.

A booking storm leaves one audit row and one event per successful booking and none for
the refused ones; writers never wait for the sealer; concurrent sealers still produce
one valid chain covering every row.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction

from audit.models import AuditEvent, AuditSeal
from audit.services import SEAL_LOCK_KEY, audit_chain_verify, audit_seal_pending
from core.audit import audit_record
from core.errors import DomainError
from core.models import OutboxEvent
from scheduling.models import Appointment
from scheduling.services import appointment_book
from tests.factories import DoctorFactory, PatientFactory, SlotFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 16


def in_own_connection(work):
    def run(*args):
        try:
            return work(*args)
        finally:
            connections.close_all()  # this thread's connection

    return run


def test_booking_storm_audits_each_success_once_and_no_refusal():
    start = hours_from_now(72)
    slot = SlotFactory(clinician=DoctorFactory(), start=start, end=start + timedelta(minutes=30))
    patients = [PatientFactory() for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)

    @in_own_connection
    def book(patient):
        barrier.wait()
        try:
            appointment_book(patient=patient, slot_id=slot.pk)
        except DomainError as exc:
            return exc.code
        return "booked"

    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = list(pool.map(book, patients))

    assert outcomes.count("booked") == 1
    assert all(outcome == "slot_unavailable" for outcome in outcomes if outcome != "booked")
    appointment = Appointment.objects.get()
    (row,) = AuditEvent.objects.filter(action="appointment.book")
    assert row.object_id == str(appointment.pk)
    assert row.actor_id == appointment.patient_id
    assert OutboxEvent.objects.filter(name="appointment.scheduled").count() == 1


def test_audit_writes_do_not_wait_for_a_sealer_holding_the_lock():
    # given a sealer that holds the seal lock (a long sealing run)
    holder = connections.create_connection("default")
    holder.connect()
    with holder.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
    try:
        # when a service writes audit rows meanwhile, then it is not blocked
        done = threading.Event()

        @in_own_connection
        def write():
            with transaction.atomic():
                connection.cursor().execute("SET LOCAL lock_timeout = '2s'")
                audit_record(actor=None, action="thing.touch", obj=("test.thing", 1))
            done.set()

        worker = threading.Thread(target=write)
        worker.start()
        worker.join(10)
        assert done.is_set()
        assert AuditEvent.objects.count() == 1
    finally:
        with holder.cursor() as cursor:
            cursor.execute("ROLLBACK")
        holder.close()


def test_concurrent_writers_and_sealers_build_one_valid_chain():
    writers, sealers, rows_each = 4, 3, 15
    stop = threading.Event()

    @in_own_connection
    def write(n):
        for i in range(rows_each):
            with transaction.atomic():
                audit_record(actor=None, action="thing.touch", obj=("test.thing", f"{n}-{i}"))

    @in_own_connection
    def seal():
        while not stop.is_set():
            audit_seal_pending(batch_size=7)

    seal_threads = [threading.Thread(target=seal) for _ in range(sealers)]
    for thread in seal_threads:
        thread.start()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    stop.set()
    for thread in seal_threads:
        thread.join(30)
    while audit_seal_pending():
        pass

    total = writers * rows_each
    assert AuditEvent.objects.count() == total
    assert AuditSeal.objects.count() == total  # every row sealed exactly once
    report = audit_chain_verify()
    assert report.ok
    assert report.checked == total
