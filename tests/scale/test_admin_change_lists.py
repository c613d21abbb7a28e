"""Admin change lists whose cost does not grow with their table (issue #19).

* the change lists of appointments, slots and audit events run the same number of
  queries with 10 rows and with 1,000;
* no change list counts a table PostgreSQL estimates as large: the unfiltered list shows
  the estimate (pg_class.reltuples), a filtered one counts at most COUNT_CAP + 1 rows;
* the date hierarchy offers the periods between the first and last date, with no
  DISTINCT over the rows; the audit trail's filters list their values by a loose index
  scan; its search is exact and served by indexes (test_explain_lists checks the plans).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from core.pagination import COUNT_CAP
from scheduling.models import Appointment, Slot
from tests.factories import DoctorFactory, PatientFactory, StaffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

FEW, MANY = 10, 1_000
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    staff: Any = StaffFactory(is_superuser=True)
    client.force_login(staff)
    return client


def add_slots(count: int, *, booked: bool = False) -> None:
    """``count`` more slots of one new clinician (and as many appointments if booked)."""
    doctor: Any = DoctorFactory()
    slots = Slot.objects.bulk_create(
        Slot(
            clinician=doctor,
            start=START + timedelta(hours=n),
            end=START + timedelta(hours=n, minutes=30),
            status=Slot.Status.BOOKED if booked else Slot.Status.OPEN,
            seats_taken=1 if booked else 0,
        )
        for n in range(count)
    )
    if booked:
        patient: Any = PatientFactory()
        Appointment.objects.bulk_create(
            Appointment(
                slot=slot, patient=patient, clinician=doctor, start=slot.start, end=slot.end
            )
            for slot in slots
        )


def add_audit_events(count: int) -> None:
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor_id=n,
            actor_role="patient",
            action="appointment.book",
            object_type="scheduling.appointment",
            object_id=str(n),
            occurred_at=START - timedelta(minutes=n),
        )
        for n in range(count)
    )


def queries_of(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


CHANGE_LISTS = {
    "/admin/scheduling/appointment/": lambda n: add_slots(n, booked=True),
    "/admin/scheduling/slot/": add_slots,
    "/admin/audit/auditevent/": add_audit_events,
}


@pytest.mark.parametrize("url", CHANGE_LISTS)
def test_change_list_query_count_is_independent_of_the_table_size(admin_client, url):
    # given a table of 10 rows
    add = CHANGE_LISTS[url]
    add(FEW)
    admin_client.get(url)  # per-process caches warm

    # when its change list is read at 10 rows and again at 1,000
    few = queries_of(admin_client, url)
    add(MANY - FEW)
    many = queries_of(admin_client, url)

    # then it runs the same number of queries, and none counts the whole table
    assert len(many) == len(few), (few, many)
    assert not [sql for sql in many if "COUNT(*)" in sql and "LIMIT" not in sql]


def _pretend_rows(table: str, rows: int) -> None:
    """What ANALYZE would leave after ``rows`` rows (rolled back with the test)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_class SET reltuples = %s WHERE oid = %s::regclass", [rows, table])


@pytest.fixture
def cap_of_five(monkeypatch):
    """Lists count at most five rows (COUNT_CAP is 10,000): six rows are a long list."""
    monkeypatch.setattr("core.pagination.COUNT_CAP", 5)


def test_a_long_unfiltered_list_shows_the_tables_estimate(admin_client, cap_of_five):
    add_audit_events(6)
    _pretend_rows("audit_auditevent", 5_000_000)

    sql = queries_of(admin_client, "/admin/audit/auditevent/")
    page = admin_client.get("/admin/audit/auditevent/").content.decode()

    counts = [query for query in sql if "COUNT(" in query]
    assert len(counts) == 1, counts
    assert "LIMIT 6" in counts[0]  # the count stops at the cap + 1
    assert "5000000 audit events" in page or "5,000,000 audit events" in page


def test_a_long_filtered_list_shows_the_planners_estimate(admin_client, cap_of_five):
    add_audit_events(6)
    page = admin_client.get("/admin/audit/auditevent/?action=appointment.book")
    assert page.context["cl"].result_count >= 6  # at least the rows counted


def test_a_short_list_is_counted_exactly_whatever_the_statistics_say(admin_client):
    add_audit_events(3)
    _pretend_rows("audit_auditevent", 5_000_000)  # stale statistics of a table emptied since

    page = admin_client.get("/admin/audit/auditevent/").content.decode()

    assert "3 audit events" in page


def test_a_filtered_list_counts_at_most_the_cap(admin_client):
    add_audit_events(3)

    sql = queries_of(admin_client, "/admin/audit/auditevent/?action=appointment.book")

    counts = [query for query in sql if "COUNT(" in query]
    assert len(counts) == 1, counts
    assert f"LIMIT {COUNT_CAP + 1}" in counts[0]


def test_the_date_hierarchy_offers_every_year_between_first_and_last(admin_client):
    # given appointments in 2024 and 2026 only
    add_slots(1, booked=True)
    Appointment.objects.update(start=datetime(2024, 5, 1, 9, tzinfo=UTC))
    add_slots(1, booked=True)

    sql = queries_of(admin_client, "/admin/scheduling/appointment/")
    page = admin_client.get("/admin/scheduling/appointment/").content.decode()

    # then 2024, 2025 and 2026 are offered, read from MIN/MAX, not a DISTINCT
    for year in (2024, 2025, 2026):
        assert f"start__year={year}" in page
    assert not [query for query in sql if "DISTINCT" in query or "DATE_TRUNC" in query.upper()]


def test_the_date_hierarchy_drills_into_the_months_between(admin_client):
    add_slots(1, booked=True)
    Appointment.objects.update(start=datetime(2026, 1, 20, 9, tzinfo=UTC))
    add_slots(1, booked=True)  # March 2026

    page = admin_client.get("/admin/scheduling/appointment/?start__year=2026").content.decode()

    for month in (1, 2, 3):
        assert f"start__month={month}&" in page or f'start__month={month}"' in page
    assert "start__month=4" not in page


def test_the_audit_filters_list_each_value_once_without_distinct(admin_client):
    add_audit_events(5)
    AuditEvent.objects.create(action="slot.create", actor_role="staff", object_type="x.y")

    sql = queries_of(admin_client, "/admin/audit/auditevent/")
    page = admin_client.get("/admin/audit/auditevent/").content.decode()

    assert "action=appointment.book" in page
    assert "action=slot.create" in page
    assert "actor_role=staff" in page
    assert "actor_role=patient" in page
    assert not [query for query in sql if "DISTINCT" in query]


@pytest.mark.parametrize(
    ("term", "found"),
    [("req-42", {"a"}), ("7", {"a", "b"}), ("appointment.cancel", {"b"}), ("nothing", set())],
)
def test_the_audit_search_matches_ids_and_actions_exactly(admin_client, term, found):
    events = {
        "a": AuditEvent.objects.create(action="appointment.book", actor_id=7, request_id="req-42"),
        "b": AuditEvent.objects.create(action="appointment.cancel", object_id="7"),
    }
    response = admin_client.get("/admin/audit/auditevent/", {"q": term})
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert shown == {events[name].pk for name in found}
