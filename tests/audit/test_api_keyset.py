"""GET /api/v1/audit-events/: ``next`` is a keyset link (``after=<id>``), cheap at any
depth, and walking it lists the trail exactly once, newest first (issue #19)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from tests.factories import PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events/"


@pytest.fixture
def trail() -> list[AuditEvent]:
    """Seven events, two pairs of them at the same instant (ties broken by id)."""
    now = timezone.now()
    moments = [now - timedelta(minutes=n) for n in (1, 2, 2, 3, 4, 4, 5)]
    return [
        AuditEvent.objects.create(action="appointment.book", actor_id=n, occurred_at=moment)
        for n, moment in enumerate(moments)
    ]


@pytest.fixture
def staff_client(client_for) -> Any:
    staff: Any = StaffFactory()
    return client_for(staff)


def walk(client: Any, url: str) -> tuple[list[int], list[str]]:
    ids, links = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        url = body["next"]
        links.append(url or "")
    return ids, links


def newest_first(events: list[AuditEvent]) -> list[int]:
    return [e.pk for e in sorted(events, key=lambda e: (e.occurred_at, e.pk), reverse=True)]


def test_following_next_lists_every_event_once_newest_first(staff_client, trail):
    ids, links = walk(staff_client, f"{URL}?page_size=2")
    assert ids == newest_first(trail)
    assert all("after=" in link and "page=" not in link for link in links[:-1])


def test_next_keeps_the_filters(staff_client, trail):
    AuditEvent.objects.create(action="slot.create")
    ids, _ = walk(staff_client, f"{URL}?page_size=2&action=appointment.book")
    assert ids == newest_first(trail)


def test_a_keyset_page_reports_the_count_of_the_whole_list(staff_client, trail):
    body = staff_client.get(URL, {"page_size": 3, "after": newest_first(trail)[2]}).json()
    assert body["count"] == 7
    assert body["previous"] is None
    assert [row["id"] for row in body["results"]] == newest_first(trail)[3:6]


def test_the_last_keyset_page_has_no_next(staff_client, trail):
    body = staff_client.get(URL, {"page_size": 3, "after": newest_first(trail)[3]}).json()
    assert len(body["results"]) == 3
    assert body["next"] is not None  # a full page: there may be more
    last = staff_client.get(body["next"]).json()
    assert last["results"] == []
    assert last["next"] is None


@pytest.mark.parametrize("after", ["0", "abc", str(10**20), "999999999"])
def test_a_bad_or_unknown_after_is_a_400_envelope(staff_client, trail, after):
    response = staff_client.get(URL, {"after": after})
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"validation_error", "invalid_cursor"}


def test_a_patient_cannot_page_the_trail(client_for, trail):
    patient: Any = PatientFactory()
    response = client_for(patient).get(URL, {"after": trail[0].pk})
    assert response.status_code == 403


def test_a_deep_keyset_page_starts_at_its_anchor_in_the_index(staff_client, trail):
    # the page query bounds occurred_at by the anchor's, so the index scan starts there
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(URL, {"page_size": 2, "after": newest_first(trail)[4]})
    page_sql = [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"]]
    assert any('"audit_auditevent"."occurred_at" <=' in sql for sql in page_sql), page_sql
