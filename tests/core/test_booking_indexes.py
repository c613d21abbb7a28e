"""The indexes a booking writes (issue #18): none a composite or unique index already
leads, and the nullable foreign keys a booking leaves empty indexed where set only; every
lookup by those keys still finds an index (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# The tables a booking writes (scheduling's, the idempotency record, the outbox).
BOOKING_TABLES = (
    "scheduling_slot",
    "scheduling_appointment",
    "scheduling_appointmentseries",
    "core_idempotencyrecord",
    "core_outboxevent",
    "core_outboxdelivery",
)

# Plain B-tree indexes whose columns are the leading columns of another plain B-tree
# index of the same table: the longer one serves every lookup the shorter one would.
REDUNDANT = """
WITH idx AS (
    SELECT i.indrelid::regclass::text AS tbl, i.indexrelid::regclass::text AS idx,
           string_to_array(i.indkey::text, ' ') AS cols
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
    WHERE am.amname = 'btree' AND i.indpred IS NULL AND i.indexprs IS NULL
)
SELECT a.idx, b.idx FROM idx a JOIN idx b ON a.tbl = b.tbl AND a.idx <> b.idx
WHERE a.tbl = ANY(%s) AND cardinality(a.cols) < cardinality(b.cols)
  AND b.cols[1:cardinality(a.cols)] = a.cols
"""


def test_no_index_of_a_booking_table_is_led_by_another():
    with connection.cursor() as cursor:
        cursor.execute(REDUNDANT, [list(BOOKING_TABLES)])
        assert cursor.fetchall() == []


@pytest.mark.parametrize(
    ("table", "column", "index"),
    [
        ("scheduling_appointment", "series_id", "appointment_series_idx"),
        ("scheduling_appointment", "previous_slot_id", "appointment_prev_slot_idx"),
        ("scheduling_appointment", "cancelled_by_id", "appointment_cancelled_by_idx"),
        ("scheduling_slot", "held_for_id", "slot_held_for_idx"),
        ("scheduling_slot", "clinician_id", "scheduling__clinici_18fb00_idx"),
        ("scheduling_appointment", "patient_id", "scheduling__patient_440426_idx"),
        ("scheduling_appointment", "clinician_id", "scheduling__clinici_e95401_idx"),
        ("core_idempotencyrecord", "user_id", "uniq_idempotency_key_per_user_scope"),
        ("core_outboxdelivery", "event_id", "uniq_outbox_delivery_per_subscriber"),
    ],
)
def test_a_lookup_by_each_key_still_uses_an_index(table, column, index):
    # as a foreign-key check or cascade asks: one value, a generic (prepared) plan
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        kind = "uuid" if column == "event_id" else "bigint"
        cursor.execute(f"PREPARE lookup({kind}) AS SELECT 1 FROM {table} WHERE {column} = $1")
        try:
            cursor.execute("EXPLAIN EXECUTE lookup(NULL)")
            plan = " ".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE lookup")
    assert f"using {index}" in plan.lower() or f"on {index}" in plan.lower(), plan


def test_the_empty_keys_are_indexed_where_set_only():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)",
            [
                [
                    "appointment_series_idx",
                    "appointment_prev_slot_idx",
                    "appointment_cancelled_by_idx",
                    "slot_held_for_idx",
                ]
            ],
        )
        definitions = dict(cursor.fetchall())
    assert len(definitions) == 4
    assert all("IS NOT NULL" in definition for definition in definitions.values())
