"""core.sql.CompiledRows: the ORM's list statements, captured once, read the ORM's rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import sql
from core.sql import CompiledRows, ListQuery
from scheduling.models import Slot
from tests.factories import DoctorFactory, SlotFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

COLUMNS = ("id", "clinician_id", "start", "status", "hospital_id")


def slots_of(shape, values):
    lookups = {name: value for name, value in values.items() if "__" in name}
    queryset = Slot.objects.filter(clinician_id=values["clinician"], **lookups)
    if shape == "open":
        queryset = queryset.filter(status=Slot.Status.OPEN)
    return queryset.order_by("start", "id")


def query(clinician, **values):
    return ListQuery(
        Slot, slots_of, values.pop("shape", "all"), {"clinician": clinician.pk, **values}
    )


def orm_rows(listed, page):
    return list(listed.queryset()[page].values_list(*COLUMNS))


@pytest.fixture
def two_clinicians():
    start = timezone.now() + timedelta(days=1)
    doctors = DoctorFactory(), DoctorFactory()
    for n, doctor in enumerate(doctors):
        for i in range(4 + n):
            at = start + timedelta(hours=i)
            status = Slot.Status.BOOKED if i == 1 else Slot.Status.OPEN
            SlotFactory(clinician=doctor, start=at, end=at + timedelta(minutes=30), status=status)
    return doctors, start


def test_each_query_of_one_shape_reads_its_own_rows_as_the_orm_does(two_clinicians):
    (first, second), start = two_clinicians
    for doctor in (first, second, first):
        for values in ({}, {"start__gte": start + timedelta(minutes=90)}, {"shape": "open"}):
            listed = query(doctor, **values)
            rows = CompiledRows(listed, COLUMNS)
            assert rows.count() == listed.queryset().count()
            assert rows[0:2] == orm_rows(listed, slice(0, 2))
            assert rows[2:50] == orm_rows(listed, slice(2, 50))
    assert CompiledRows(query(second), COLUMNS).count() == 5


def test_a_shape_is_compiled_without_running_anything_but_the_read(two_clinicians):
    (doctor, _), start = two_clinicians
    listed = query(doctor, start__lt=start + timedelta(days=9), shape="fresh-shape")
    with CaptureQueriesContext(connection) as queries:
        rows = CompiledRows(listed, COLUMNS)[0:50]
    assert len(queries.captured_queries) == 1  # the stand-in compiles were never sent
    assert rows == orm_rows(listed, slice(0, 50))
    assert len(rows) == 4
    assert [key for key in sql._captured if "fresh-shape" in key[0]]


def test_a_none_value_is_part_of_the_shape_not_a_parameter(two_clinicians):
    (doctor, _), _ = two_clinicians
    SlotFactory(clinician=doctor)  # one more, without a hospital, as the others
    listed = query(doctor, hospital_id__exact=None)
    assert CompiledRows(listed, COLUMNS).count() == listed.queryset().count() == 5


def written_in(shape, values):  # the value is written into the SQL text
    return Slot.objects.filter(
        clinician_id=values["clinician"],
        id__gt=RawSQL(str(int(values["n"])), []),  # noqa: S611 - an int, on purpose
    )


def moving(shape, values):
    return Slot.objects.filter(clinician_id=values["clinician"], start__gt=timezone.now())


def test_a_value_that_is_not_a_bound_parameter_is_refused(two_clinicians):
    (doctor, _), _ = two_clinicians
    with pytest.raises(RuntimeError, match="not only a parameter"):
        CompiledRows(
            ListQuery(Slot, written_in, None, {"clinician": doctor.pk, "n": 2}), COLUMNS
        ).count()
    with pytest.raises(RuntimeError, match="not only a parameter"):  # a hidden moving constant
        CompiledRows(ListQuery(Slot, moving, None, {"clinician": doctor.pk}), COLUMNS)[0:5]


def test_past_the_bound_on_shapes_the_orm_reads_instead(two_clinicians, monkeypatch):
    (doctor, _), _ = two_clinicians
    monkeypatch.setattr(sql, "MAX_CAPTURED", 0)
    listed = query(doctor, shape="never-captured")
    rows = CompiledRows(listed, COLUMNS)
    assert rows[0:3] == orm_rows(listed, slice(0, 3))
    assert rows.count() == 4
    assert not [key for key in sql._captured if "never-captured" in key[0]]


def nothing(shape, values):
    return Slot.objects.none()


def test_a_shape_the_orm_sends_nothing_for_is_read_by_the_orm(two_clinicians):
    listed = ListQuery(Slot, nothing, "no-role", {"clinician": 1})
    with CaptureQueriesContext(connection) as queries:
        rows = CompiledRows(listed, COLUMNS)
        assert (rows[0:50], rows.count()) == ([], 0)
        assert (rows[0:50], CompiledRows(listed, COLUMNS).count()) == ([], 0)  # remembered
    assert queries.captured_queries == []


@pytest.mark.django_db(transaction=True)
def test_a_processs_first_connection_compiles_its_first_list(monkeypatch):
    # given a process whose connection is new (its set-up queries not yet run) and that
    # has compiled no list yet
    from django.contrib.postgres import signals

    doctor = DoctorFactory()
    SlotFactory(clinician=doctor)
    connection.close()
    signals.get_hstore_oids.cache_clear()
    signals.get_citext_oids.cache_clear()
    monkeypatch.setattr(sql, "_captured", {})

    # when the first compiled list runs, then it reads the row as the ORM does
    listed = query(doctor)
    assert CompiledRows(listed, COLUMNS)[0:5] == orm_rows(listed, slice(0, 5))
