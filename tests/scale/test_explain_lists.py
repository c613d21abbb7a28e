"""Flat reads (issue #19): no request path reads a large table sequentially.

The tables that grow with a clinic group's years (users, slots, appointments, the audit
trail, notifications, the outbox) get tens of thousands of other people's rows, written
by the database (generate_series) and ANALYZEd, so PostgreSQL's planner sees realistic
statistics and would choose a sequential scan wherever no index serves a filter and its
order. Then every list endpoint of the API (the scenarios of test_query_counts, one per
discovered list), every admin change list, and the clinician's dashboard pages are
requested for real; each SELECT they ran is EXPLAINed (FORMAT JSON) and no plan may hold
a Seq Scan of a table the statistics call large.

The rows are written once for the module inside one transaction that is rolled back at
its end (each test runs in a savepoint of it), so no other test sees them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import DoctorFactory, StaffFactory
from tests.scale.test_query_counts import SCENARIOS

pytestmark = pytest.mark.postgres

LARGE = 10_000  # rows (the planner's estimate) from which a table counts as large
PEOPLE, CLINICIANS = 100_000, 1_000
SLOTS_PER_CLINICIAN = 60  # 60,000 slots, every other one booked: 30,000 appointments
HISTORY = 100_000  # audit rows; notifications and outbox events get half as many each

BULK_SQL = [
    # Patients and clinicians, named apart from any factory's, with names as varied as
    # people's (a search's trigrams are rare): person n is md5(n)'s first 8 hex digits.
    """INSERT INTO accounts_user (password, is_superuser, email, first_name, last_name, role,
       time_zone, is_active, is_staff, date_joined, credentials_version)
       SELECT '!', false, substr(md5(n::text), 1, 12) || n || '@scale.example.test',
       initcap(substr(md5(n::text), 1, 8)), initcap(substr(md5((-n)::text), 1, 10)),
       CASE WHEN n < %(clinicians)s THEN 'doctor' ELSE 'patient' END, 'UTC', true, false,
       now() - n * interval '1 minute', 0
       FROM generate_series(0, %(people)s + %(clinicians)s - 1) AS n""",
    """CREATE TEMP TABLE bulk_person ON COMMIT DROP AS
       SELECT id, row_number() OVER (ORDER BY id) - 1 AS n, role FROM accounts_user
       WHERE email LIKE '%%@scale.example.test'""",
    # Slot k of clinician d starts k * 2,000 + d minutes from 30 days ago: one clinician's
    # slots never overlap, and booking slot number m for patient m mod PEOPLE gives no
    # patient two appointments at one time.
    """INSERT INTO scheduling_slot (start, "end", mode, status, created_at, clinician_id,
       capacity, seats_taken)
       SELECT now() - interval '30 days' + (k * 2000 + d.n) * interval '1 minute',
       now() - interval '30 days' + (k * 2000 + d.n + 30) * interval '1 minute',
       'in_person', CASE WHEN k %% 2 = 0 THEN 'booked' ELSE 'open' END, now(), d.id, 1,
       CASE WHEN k %% 2 = 0 THEN 1 ELSE 0 END
       FROM bulk_person AS d, generate_series(0, %(per)s - 1) AS k WHERE d.role = 'doctor'""",
    """INSERT INTO scheduling_appointment (start, "end", status, reason, notes,
       cancellation_reason, created_at, updated_at, clinician_id, patient_id, slot_id, seat)
       SELECT s.start, s."end", 'scheduled', '', '', '', now(), now(), s.clinician_id, p.id,
       s.id, 1 FROM (SELECT *, row_number() OVER (ORDER BY id) AS m FROM scheduling_slot
       WHERE status = 'booked' AND clinician_id IN (SELECT id FROM bulk_person)) AS s
       JOIN bulk_person p ON p.role = 'patient'
       AND p.n = %(clinicians)s + s.m %% %(people)s""",
    """INSERT INTO audit_auditevent (actor_id, actor_role, action, object_type, object_id,
       changes, metadata, request_id, occurred_at)
       SELECT n %% 50000, 'patient', (ARRAY['appointment.book', 'appointment.cancel',
       'slot.create'])[1 + n %% 3], 'scheduling.appointment', (n %% 30000)::text, '{}',
       '{}', md5(n::text), now() - interval '1 day' - n * interval '10 seconds'
       FROM generate_series(1, %(history)s) AS n""",
    """INSERT INTO notifications_notification (channel, event_id, kind, subject, status,
       attempts, last_error, created_at, sent_at, recipient_id, body)
       SELECT 'email', gen_random_uuid(), 'appointment_scheduled', 'Appointment', 'sent', 1,
       '', now() - g.i * interval '1 minute', now() - g.i * interval '1 minute', p.id, ''
       FROM generate_series(1, %(history)s / 2) AS g(i)
       JOIN bulk_person p ON p.n = %(clinicians)s + g.i %% %(people)s""",
    """INSERT INTO core_outboxevent (id, name, payload, aggregate_type, aggregate_id,
       request_id, created_at, attempts, last_error, delivered_at)
       SELECT gen_random_uuid(), 'appointment.booked', '{}', 'appointment', n::text, '',
       now() - n * interval '1 minute', 1, '', now() - n * interval '1 minute'
       FROM generate_series(1, %(history)s / 2) AS n""",
    # Every table, the small ones too: as autovacuum leaves a database in service.
    "ANALYZE",
]


@pytest.fixture(scope="module")
def large_tables(django_db_setup: Any, django_db_blocker: Any) -> Iterator[set[str]]:
    """The bulk rows, for the whole module, rolled back at its end; yields the names of
    the tables the planner now takes for large."""
    params = {
        "people": PEOPLE,
        "clinicians": CLINICIANS,
        "per": SLOTS_PER_CLINICIAN,
        "history": HISTORY,
    }
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            with connection.cursor() as cursor:
                for sql in BULK_SQL:
                    cursor.execute(sql, params)
                cursor.execute(
                    "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples >= %s"
                    " AND relnamespace = 'public'::regnamespace",
                    [LARGE],
                )
                large = {row[0] for row in cursor.fetchall()}
            yield large
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            with connection.cursor() as cursor:
                # ANALYZE's row counts in pg_class outlive the rollback: count again.
                cursor.execute("ANALYZE")


def seq_scans(plan: Any) -> Iterator[str]:
    """The relations a plan (EXPLAIN FORMAT JSON) reads with a Seq Scan."""
    if isinstance(plan, dict):
        if plan.get("Node Type") == "Seq Scan":
            yield plan["Relation Name"]
        for value in plan.values():
            yield from seq_scans(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from seq_scans(item)


def large_seq_scans(queries: list[dict[str, str]], large: set[str]) -> list[str]:
    """Each captured SELECT whose plan reads a large table sequentially, with its tables."""
    found = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            tables = sorted(set(seq_scans(plan)) & large)
            if tables:
                found.append(f"{tables}: {sql}")
    return found


def _captured(client: Any, url: str) -> list[dict[str, str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return queries.captured_queries


def test_the_bulk_rows_make_the_growing_tables_large(large_tables):
    assert {
        "accounts_user",
        "scheduling_slot",
        "scheduling_appointment",
        "audit_auditevent",
        "notifications_notification",
        "core_outboxevent",
    } <= large_tables


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(SCENARIOS))
def test_list_endpoint_reads_no_large_table_sequentially(large_tables, client_for, path):
    # given a caller with a few rows of their own among the bulk of everyone else's
    scenario = SCENARIOS[path]()
    for _ in range(2):
        scenario.add()
    client = client_for(scenario.viewer)
    url = path.format(**scenario.kwargs)
    client.get(url)  # per-process caches warm: only the list's own statements remain

    # when the list is read, then every statement it ran is served by an index
    scans = large_seq_scans(_captured(client, url), large_tables)
    assert not scans, "\n".join(scans)


def _admin_change_lists() -> list[str]:
    return sorted(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        for model in admin.site._registry
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", _admin_change_lists())
def test_admin_change_list_reads_no_large_table_sequentially(large_tables, name):
    client = Client()
    client.force_login(StaffFactory(is_superuser=True, is_staff=True))
    url = reverse(name)
    client.get(url)
    scans = large_seq_scans(_captured(client, url), large_tables)
    assert not scans, "\n".join(scans)


ADMIN_SEARCHES = [  # md5('1234') and md5('123') begin so: a patient's and a clinician's name
    ("admin:accounts_user_changelist", "81dc9bdb"),
    ("admin:scheduling_appointment_changelist", "81dc9bdb"),
    ("admin:scheduling_slot_changelist", "202cb962"),
    ("admin:audit_auditevent_changelist", "12345"),
    ("admin:audit_auditevent_changelist", "appointment.reschedule"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "term"), ADMIN_SEARCHES)
def test_admin_search_is_served_by_indexes(large_tables, name, term):
    client = Client()
    client.force_login(StaffFactory(is_superuser=True, is_staff=True))
    url = f"{reverse(name)}?q={term}"
    scans = large_seq_scans(_captured(client, url), large_tables)
    assert not scans, "\n".join(scans)


DASHBOARD_PAGES = [
    "dashboard:agenda",
    "dashboard:week",
    "dashboard:availability",
    "dashboard:clients",
    "dashboard:reports",
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", DASHBOARD_PAGES)
def test_dashboard_page_reads_no_large_table_sequentially(large_tables, name):
    client = Client()
    client.force_login(DoctorFactory())
    url = reverse(name)
    client.get(url)
    scans = large_seq_scans(_captured(client, url), large_tables)
    assert not scans, "\n".join(scans)


@pytest.mark.django_db
def test_a_deep_audit_page_reads_no_large_table_sequentially(large_tables, client_for):
    # given the keyset link to a page among the oldest of 100,000 events
    from audit.models import AuditEvent

    deep = AuditEvent.objects.order_by("occurred_at", "id").values_list("pk", flat=True)[20]
    staff: Any = StaffFactory()
    client = client_for(staff)
    url = f"/api/v1/audit-events/?after={deep}"
    client.get(url)

    # then reading it is served by indexes, however deep it is
    scans = large_seq_scans(_captured(client, url), large_tables)
    assert not scans, "\n".join(scans)
