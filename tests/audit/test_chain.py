"""The audit trail is append-only (PostgreSQL refuses changes) and tamper-evident."""

from __future__ import annotations

import itertools

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent, AuditSeal
from audit.services import GENESIS_HASH, audit_chain_verify, audit_seal_pending, link_hash
from core.audit import audit_record
from core.db import is_postgres
from scheduling.models import Appointment, Slot
from scheduling.services import appointment_book
from tests.factories import DoctorFactory, PatientFactory, SlotFactory

pytestmark = pytest.mark.django_db


def record(action: str, n: int = 1):
    rows = []
    for i in range(n):
        with transaction.atomic():
            rows.append(audit_record(actor=None, action=action, obj=("test.thing", i)))
    return rows


def verify_output() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_log", stdout=out)
    return out.getvalue()


def test_sealing_links_events_in_order_and_verify_reports_ok():
    # given three unsealed audit rows
    rows = record("thing.touch", 3)
    assert AuditSeal.objects.count() == 0
    # when they are sealed
    assert audit_seal_pending() == 3
    # then each link chains from the previous one, starting at the genesis hash
    seals = list(AuditSeal.objects.order_by("id"))
    assert [seal.event_id for seal in seals] == [row.pk for row in rows]
    assert seals[0].prev_hash == GENESIS_HASH
    for previous, seal in itertools.pairwise(seals):
        assert seal.prev_hash == previous.hash
    assert seals[2].hash == link_hash(seals[1].hash, AuditEvent.objects.get(pk=rows[2].pk))
    assert audit_seal_pending() == 0  # nothing left to seal
    assert "OK: 3 audit events verified; 0 not sealed yet." in verify_output()


def test_later_events_extend_the_existing_chain():
    record("thing.touch", 2)
    audit_seal_pending()
    record("thing.touch", 1)
    assert audit_chain_verify().unsealed == 1
    audit_seal_pending()
    report = audit_chain_verify()
    assert (report.ok, report.checked, report.unsealed) == (True, 3, 0)


def _without_trigger(sql: str, params: list) -> None:
    """Run ``sql`` as an attacker with table rights would: trigger off, change, trigger on."""
    with connection.cursor() as cursor:
        if is_postgres(connection):
            # Deferred foreign-key checks of this test's transaction block ALTER TABLE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE audit_auditseal DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if is_postgres(connection):
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
            cursor.execute("ALTER TABLE audit_auditseal ENABLE TRIGGER USER")


def test_edited_payload_is_caught_and_the_row_named():
    # given a sealed chain of three rows
    rows = record("thing.touch", 3)
    audit_seal_pending()
    # when someone rewrites the second row's changes behind the application's back
    _without_trigger(
        "UPDATE audit_auditevent SET changes = %s WHERE id = %s",
        ['{"status": {"before": "x", "after": "forged"}}', rows[1].pk],
    )
    # then verification fails and names that row
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_event_id == rows[1].pk
    assert report.checked == 1
    with pytest.raises(CommandError, match=rf"BROKEN at audit event #{rows[1].pk} "):
        call_command("verify_audit_log")


def test_removed_link_is_caught():
    rows = record("thing.touch", 3)
    audit_seal_pending()
    _without_trigger("DELETE FROM audit_auditseal WHERE event_id = %s", [rows[1].pk])
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_event_id == rows[2].pk
    assert "missing" in report.reason


def run_in_savepoint(change) -> None:
    with transaction.atomic():
        change()


def run_sql(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'forged' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
        "UPDATE audit_auditseal SET hash = 'forged' WHERE event_id = %s",
        "DELETE FROM audit_auditseal WHERE event_id = %s",
    ],
)
def test_postgres_refuses_update_and_delete(sql):
    (row,) = record("thing.touch")
    audit_seal_pending()
    with pytest.raises(DatabaseError, match="append-only"):
        run_sql(sql, [row.pk])
    stored = AuditEvent.objects.get(pk=row.pk)
    assert stored.action == "thing.touch"
    assert AuditSeal.objects.filter(event=row).exists()


@pytest.mark.postgres
def test_postgres_refuses_orm_delete_and_update():
    (row,) = record("thing.touch")
    rows = AuditEvent.objects.filter(pk=row.pk)
    with pytest.raises(DatabaseError, match="append-only"):
        run_in_savepoint(lambda: rows.update(action="forged"))
    with pytest.raises(DatabaseError, match="append-only"):
        run_in_savepoint(rows.delete)
    assert AuditEvent.objects.get(pk=row.pk).action == "thing.touch"


@pytest.fixture
def audit_insert_fails():
    """A database that refuses audit inserts (disk full, permissions): a real trigger."""
    with connection.cursor() as cursor:
        if is_postgres(connection):
            cursor.execute(
                "CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'audit store unavailable'; END; $$"
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_auditevent "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_auditevent "
                "BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END"
            )
    yield
    with connection.cursor() as cursor:
        if is_postgres(connection):
            cursor.execute("DROP TRIGGER test_refuse_audit ON audit_auditevent")
            cursor.execute("DROP FUNCTION test_refuse_audit()")
        else:
            cursor.execute("DROP TRIGGER test_refuse_audit")


@pytest.mark.django_db(transaction=True)
def test_failed_audit_write_aborts_the_booking(audit_insert_fails):
    # given an open slot and a patient
    slot = SlotFactory(clinician=DoctorFactory())
    patient = PatientFactory()
    # when the audit write fails inside the booking
    with pytest.raises(DatabaseError, match="audit store unavailable"):
        appointment_book(patient=patient, slot_id=slot.pk)
    # then the booking did not happen: no appointment, the slot still open, no event
    assert not Appointment.objects.exists()
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OPEN
    assert AuditEvent.objects.count() == 0
    from core.models import OutboxEvent

    assert OutboxEvent.objects.count() == 0


def test_a_straggler_outside_the_recent_window_is_sealed_by_the_full_pass():
    from datetime import timedelta

    from django.utils import timezone

    record("thing.touch", 2)
    audit_seal_pending()
    # given a row that became visible long after it was written (a very long transaction)
    with transaction.atomic():
        straggler = AuditEvent.objects.create(
            action="thing.late", occurred_at=timezone.now() - timedelta(hours=3)
        )
    # when the after-commit sealer runs, then it only looks at the recent window
    assert audit_seal_pending() == 0
    assert audit_chain_verify().unsealed == 1
    # when the periodic full pass runs, then the straggler joins the chain
    assert audit_seal_pending(full=True) == 1
    assert AuditSeal.objects.order_by("-id").first().event_id == straggler.pk
    assert audit_chain_verify().ok
