"""core.sql.statements_together (issue #18): a block's writes in as few statements as its
reads allow, with the results the same as without it (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.audit import audit_record
from core.models import OutboxEvent
from core.outbox import event_publish
from core.sql import insert_row, statements_together, update_row
from scheduling.models import Slot
from tests.factories import DoctorFactory, SlotFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def sent(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


@pytest.fixture
def slot() -> Slot:
    start = hours_from_now(48)
    end = start + timedelta(minutes=30)
    return cast(Slot, SlotFactory(clinician=DoctorFactory(), start=start, end=end))


def insert_event() -> OutboxEvent:
    """An outbox row by ``insert_row`` itself (it sends what the block holds)."""
    event = OutboxEvent(name="test.key", payload={}, aggregate_type="", aggregate_id="")
    event.request_id = ""
    fields = ["id", "name", "payload", "aggregate_type", "aggregate_id", "request_id"]
    insert_row(event, [*fields, "created_at", "attempts", "last_error"])
    return event


def test_held_writes_go_with_the_next_insert_as_one_statement(slot):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        with statements_together():
            slot.status = Slot.Status.BOOKED
            update_row(slot, ["status"])
            row = audit_record(actor=None, action="thing.touch", obj=("test.thing", 1))
            assert row.pk is None  # held: its key comes when it is sent
            event = event_publish(name="test.together", payload={"n": 1})
            assert OutboxEvent.objects.filter(pk=event.pk).exists()  # a read sends them
        # then the UPDATE, the audit row and the event went as one statement, before the read
        statements = sent(queries)
        assert len(statements) == 2
        assert statements[0].startswith("WITH w0 AS (UPDATE")
        assert statements[0].count("INSERT INTO") == 2
        assert row.pk is not None
    slot.refresh_from_db()
    assert slot.status == Slot.Status.BOOKED
    assert AuditEvent.objects.filter(pk=row.pk, action="thing.touch").exists()


def test_the_end_of_the_block_sends_what_it_holds(slot):
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries, statements_together():
            first = audit_record(actor=None, action="thing.one", obj=("test.thing", 1))
            second = audit_record(actor=None, action="thing.two", obj=("test.thing", 2))
            assert queries.captured_queries == []
        assert len(sent(queries)) == 1
    assert set(
        AuditEvent.objects.filter(pk__in=[first.pk, second.pk]).values_list("action", flat=True)
    ) == {"thing.one", "thing.two"}


def test_an_insert_sends_the_held_writes_and_gets_its_own_key(slot):
    with transaction.atomic(), statements_together():
        update_row(slot, ["status"])
        row = audit_record(actor=None, action="thing.touch", obj=("test.thing", 1))
        event = insert_event()
        # the insert was sent with the held ones: every key is set now
        assert row.pk is not None
        assert OutboxEvent.objects.filter(pk=event.pk).exists()


def test_a_missing_row_of_a_held_update_raises_when_it_is_sent(slot):
    ghost = Slot(pk=-1, status=Slot.Status.OPEN)
    with transaction.atomic(), statements_together():
        update_row(ghost, ["status"])
        # the held UPDATE goes with the next write, and its missing row is found there
        audit_record(actor=None, action="thing.touch", obj=("test.thing", 1))
        with pytest.raises(DatabaseError, match="no Slot -1"):
            insert_event()


def test_a_savepoint_inside_the_block_sees_and_keeps_the_earlier_writes(slot):
    with transaction.atomic():
        with statements_together():
            kept = audit_record(actor=None, action="thing.kept", obj=("test.thing", 1))
            lost = None
            try:
                with transaction.atomic():
                    lost = audit_record(actor=None, action="thing.lost", obj=("test.thing", 2))
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT 1 / 0")  # refused: the savepoint rolls back
            except DatabaseError:
                pass
            else:
                pytest.fail("the division by zero was not refused")
        assert AuditEvent.objects.filter(pk=kept.pk).exists()
        assert lost is not None
        assert not AuditEvent.objects.filter(action="thing.lost").exists()


def test_an_error_inside_the_block_still_sends_what_it_held_before():
    class Refused(Exception):
        pass

    with transaction.atomic():
        row = None
        try:
            with statements_together():
                row = audit_record(actor=None, action="thing.before", obj=("test.thing", 1))
                raise Refused
        except Refused:
            pass
        assert row is not None
        # a caller that handles the error and commits keeps the audit row it wrote
        assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_nested_blocks_are_one_block():
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        with statements_together():
            audit_record(actor=None, action="thing.outer", obj=("test.thing", 1))
            with statements_together():
                audit_record(actor=None, action="thing.inner", obj=("test.thing", 2))
            assert queries.captured_queries == []
        assert len(sent(queries)) == 1


@pytest.mark.django_db(transaction=True)
def test_the_block_needs_a_transaction():
    with pytest.raises(DatabaseError, match="inside a transaction"), statements_together():
        pass


def test_without_a_block_every_write_is_its_own_statement(slot):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        update_row(slot, ["status"])
        audit_record(actor=None, action="thing.touch", obj=("test.thing", 1))
    assert len(sent(queries)) == 2
