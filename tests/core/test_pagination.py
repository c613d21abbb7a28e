"""Page-number pagination that skips the COUNT query when the first page tells the total:
a short first page is the total, and a full one carries it (COUNT(*) OVER ())."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def count_queries(context: CaptureQueriesContext) -> int:
    """COUNT queries of their own (a page's window count is not one)."""
    return sum(
        "COUNT(" in sql and "OVER" not in sql
        for sql in (query["sql"].upper() for query in context.captured_queries)
    )


@pytest.fixture
def patient_with_five():
    patient = PatientFactory()
    for _ in range(5):
        AppointmentFactory(patient=patient)
    return patient


def get(client_for, patient, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client_for(patient).get("/api/v1/appointments/", params)
    return response, count_queries(queries)


def test_a_first_page_that_is_not_full_is_the_total_without_counting(client_for, patient_with_five):
    response, counts = get(client_for, patient_with_five)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == 5
    assert body["next"] is None
    assert body["previous"] is None
    assert counts == 0


def test_an_empty_list_is_a_first_page_with_count_zero(client_for):
    response, counts = get(client_for, PatientFactory())
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert counts == 0


def test_a_full_first_page_carries_its_total(client_for, patient_with_five):
    response, counts = get(client_for, patient_with_five, page_size=5)
    body = response.json()
    assert (body["count"], len(body["results"]), body["next"]) == (5, 5, None)
    assert counts == 0
    response, _ = get(client_for, patient_with_five, page_size=2)
    body = response.json()
    assert body["count"] == 5
    assert body["next"].endswith("page=2&page_size=2")


@pytest.mark.parametrize(("page", "expected"), [("2", 2), ("3", 1)])
def test_later_pages_count_and_hold_the_rest(client_for, patient_with_five, page, expected):
    response, counts = get(client_for, patient_with_five, page_size=2, page=page)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert len(body["results"]) == expected
    assert counts == 1


@pytest.mark.parametrize("page", ["4", "0", "-1", "abc", "1.5", "99999999999999999999999"])
def test_a_page_out_of_range_or_not_a_number_is_a_404_envelope(client_for, patient_with_five, page):
    response, _ = get(client_for, patient_with_five, page_size=2, page=page)
    assert response.status_code == 404
    assert response.json()["error"]["code"]


def test_pages_together_hold_each_row_once(client_for, patient_with_five):
    seen = []
    for page in ("1", "2", "3"):
        response, _ = get(client_for, patient_with_five, page_size=2, page=page)
        seen += [row["id"] for row in response.json()["results"]]
    assert len(seen) == len(set(seen)) == 5
