"""The Slot search reads through core.sql's compiled statements (fhir.compiled, #17):
the same slots, totals and cursors as the ORM's search (fhir.search.page_of), one
statement compiled per shape, and the ``free`` code's ``seats_taken = 0`` kept in the
statement rather than stood in for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from core import sql
from fhir import compiled
from fhir.compiled import compiled_page, condition_from, template_of
from fhir.mapping import slot_resource, slot_row_resource
from fhir.registry import SLOT, SLOT_STATUSES
from fhir.search import CURSOR, NOTHING, criteria_from, page_of
from scheduling import services
from scheduling.models import Slot
from scheduling.services.holds import slot_hold
from tests.factories import PatientFactory, SlotFactory
from tests.fhir.conftest import hours_ahead
from tests.fhir.helpers import fhir_get, ids

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_shapes_yet():
    """Each test starts with the process's bound of compiled shapes unused."""
    compiled._shapes.clear()


def _slot(clinician: Any, hours: float, **extra: Any) -> Any:
    start = hours_ahead(hours)
    return SlotFactory(clinician=clinician, start=start, end=start + timedelta(minutes=30),
                       **extra)  # fmt: skip


@pytest.fixture
def slots(clinic):
    """Beside the clinic's: free ones, a partly taken group slot, a held one, one with an
    expired hold, a blocked one, a withdrawn one, a past one, the other clinician's."""
    doctor = clinic.doctor
    for hours in (30, 31, 55, 80):
        _slot(doctor, hours)
    _slot(clinic.other, 31)  # the same start as the doctor's: the keyset's id decides
    group = _slot(doctor, 33, capacity=3)
    services.appointment_book(patient=PatientFactory(), slot_id=group.pk)
    slot_hold(slot_id=_slot(doctor, 41).pk, patient=PatientFactory())
    _slot(doctor, 44, held_for=PatientFactory(), held_until=timezone.now() - timedelta(minutes=1))
    _slot(doctor, 42, status="blocked")
    _slot(doctor, 43, status="withdrawn")
    _slot(doctor, -5)
    _slot(clinic.other, 60, capacity=2)
    return clinic


def both_pages(user: Any, query: QueryDict) -> tuple[Any, Any, Any]:
    now = timezone.now()
    criteria = criteria_from(query, SLOT.params, strict=False, now=now)
    orm = page_of(SLOT.searchable(SLOT.visible(user)).filter(*criteria.conditions), query,
                  SLOT.order)  # fmt: skip
    assert SLOT.visible_list is not None
    fast = compiled_page(
        visible=SLOT.visible_list(user), searchable=SLOT.searchable,
        conditions=criteria.conditions, query=query, order=SLOT.order,
        columns=SLOT.row_columns,
    )  # fmt: skip
    assert fast is not None
    return orm, fast, now


def assert_same_pages(user: Any, text: str) -> int:
    """Every page of the search, ORM and compiled side by side; the pages read."""
    query, pages = QueryDict(text, mutable=True), 0
    while True:
        orm, fast, now = both_pages(user, query)
        assert [slot_row_resource(row, now) for row in fast.rows] == [
            slot_resource(slot, now) for slot in orm.rows
        ]
        assert (fast.total, fast.next_cursor) == (orm.total, orm.next_cursor)
        pages += 1
        if not orm.next_cursor:
            return pages
        query[CURSOR] = orm.next_cursor


SEARCHES = [
    "",
    "schedule=Schedule/{doctor}&status=free&start=ge{day1}&start=lt{day4}",
    "schedule=Schedule/{doctor}&status=free,busy-tentative&_count=2",
    "schedule=Schedule/{doctor}&status=busy,busy-unavailable",
    "status=busy-tentative&start=gt{day1}",
    "schedule={doctor}&start=le{day4}&start=eq{day2_date}&_count=1",
    "schedule=Schedule/{doctor},Schedule/{other}&_count=3",
    "schedule=Practitioner/{doctor}",
    "schedule=Schedule/99999999&status=free",
    "status=free&_count=0",
    "schedule=Schedule/{doctor}&_count=0&status=busy",
]


@pytest.mark.parametrize("role", ["patient_a", "doctor", "other", "staff"])
@pytest.mark.parametrize("search", SEARCHES)
def test_the_compiled_search_answers_what_the_orm_search_answers(slots, role, search):
    day1, day4 = hours_ahead(24), hours_ahead(96)
    text = search.format(
        doctor=slots.doctor.pk, other=slots.other.pk,
        day1=day1.isoformat().replace("+", "%2B"), day4=day4.isoformat().replace("+", "%2B"),
        day2_date=(day1 + timedelta(days=1)).date().isoformat(),
    )  # fmt: skip
    pages = assert_same_pages(getattr(slots, role), text)
    assert pages >= 1


@pytest.mark.postgres  # elsewhere core.sql runs the ORM's queryset
def test_a_later_page_of_every_shape_is_read_through_its_compiled_statement(slots):
    """Free slots page by page as a patient: every statement is core.sql's, captured once
    per shape (the first page, the later pages, the count); none is left to the ORM."""
    sql._captured.clear()
    assert assert_same_pages(slots.patient_a, f"schedule={slots.doctor.pk}&status=free&_count=2")
    fhir_statements = {key: captured for key, captured in sql._captured.items()
                       if key[0][0] is compiled._matches}  # fmt: skip
    assert len(fhir_statements) == 3  # first page, a later page, the later page's count
    assert all(captured is not None for captured in fhir_statements.values())
    assert any('"seats_taken" = %s' in captured[0] for captured in fhir_statements.values())

    # another clinician, another patient: the same shapes, nothing captured again
    assert_same_pages(slots.patient_b, f"schedule={slots.other.pk}&status=free&_count=2")
    again = [key for key in sql._captured if key[0][0] is compiled._matches]
    assert len(again) == 3


def test_free_keeps_its_seat_count_in_the_statement_and_binds_the_request_values():
    now = timezone.now()
    condition = SLOT_STATUSES["free"](now) & Q(clinician_id=7) & Q(start__gte=now)
    values: dict[str, Any] = {}
    template = template_of(condition, values)
    assert sorted(map(str, values.values())) == sorted(map(str, [Slot.Status.OPEN, now, 7, now]))
    assert ("constant", "seats_taken", 0) in repr_leaves(template)
    rebuilt = condition_from(template, values)
    assert str(Slot.objects.filter(rebuilt).query) == str(Slot.objects.filter(condition).query)


def test_patterns_lists_and_flags_are_constants_of_the_shape():
    values: dict[str, Any] = {}
    condition = NOTHING | Q(status__istartswith="op") | Q(held_until__isnull=True)
    template = template_of(condition & ~Q(seats_taken__gt=1), values)
    assert values == {}
    rebuilt = condition_from(template, values)
    assert str(Slot.objects.filter(rebuilt & Q(pk=1)).query) == str(
        Slot.objects.filter(condition & ~Q(seats_taken__gt=1) & Q(pk=1)).query
    )


def repr_leaves(template: Any) -> list[Any]:
    _, _, _, children = template
    leaves: list[Any] = []
    for child in children:
        leaves += repr_leaves(child) if child[0] == "tree" else [child]
    return leaves


@pytest.mark.postgres
def test_past_the_bound_of_shapes_a_search_runs_through_the_orm(slots, client_for, monkeypatch):
    """A client chooses its shapes (parameters, alternatives, _count): past MAX_SHAPES a
    new one is read through the ORM, with the same answer, and adds nothing to core.sql's
    cache that the REST lists share."""
    monkeypatch.setattr(compiled, "MAX_SHAPES", 1)
    client = client_for(slots.patient_a)
    first = f"Slot?schedule={slots.doctor.pk}&status=free&_count=2"
    other = f"Slot?schedule={slots.doctor.pk}&status=free,busy-tentative&_count=3"
    status, bundle = fhir_get(client, first)
    assert status == 200
    assert len(ids(bundle)) == 2
    captured = len(sql._captured)

    status, past = fhir_get(client, other)  # a second shape: past the bound
    assert status == 200
    assert len(sql._captured) == captured
    assert len(compiled._shapes) == 1
    criteria = criteria_from(QueryDict(other.partition("?")[2]), SLOT.params, strict=False,
                             now=timezone.now())  # fmt: skip
    matches = SLOT.searchable(SLOT.visible(slots.patient_a)).filter(*criteria.conditions)
    expected = page_of(matches, QueryDict("_count=3"), SLOT.order)
    assert ids(past) == [slot.pk for slot in expected.rows]
    assert past["total"] == expected.total

    status, again = fhir_get(client, first)  # the first shape is still read compiled
    assert status == 200
    assert ids(again) == ids(bundle)
    assert len(sql._captured) == captured
