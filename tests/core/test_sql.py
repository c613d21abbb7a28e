"""core.sql: the ORM's own statements, compiled once, give the ORM's own results."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import Hospital
from core.sql import insert_row, one_row, update_row
from tests.factories import HospitalFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def hospital_by_id(pk):
    return Hospital.objects.filter(pk=pk).order_by().values_list("code", "name", "created_at")


def two_parameters(pk):
    return Hospital.objects.filter(pk=pk, name="x").values_list("code")


def test_one_row_reads_what_the_orm_reads_and_none_for_no_row():
    hospitals = [HospitalFactory(), HospitalFactory()]
    for hospital in hospitals:  # the same compiled statement, each its own parameter
        assert (
            one_row(hospital_by_id, hospital.pk, alias="default")
            == hospital_by_id(hospital.pk).get()
        )
    assert one_row(hospital_by_id, 10**12, alias="default") is None


def test_a_queryset_with_more_than_its_one_parameter_is_refused():
    with pytest.raises(RuntimeError, match="one parameter"):
        one_row(two_parameters, 1, alias=connection.alias)


def test_insert_row_stores_what_save_would():
    hospital = Hospital(code="SQL-1", name="Compiled Clinic", country="GB")
    insert_row(hospital, ["code", "name", "address", "city", "region", "postal_code",
                          "country", "phone", "created_at", "updated_at"])  # fmt: skip
    stored = Hospital.objects.get(code="SQL-1")
    assert stored.pk == hospital.pk
    assert (stored.name, stored.country) == ("Compiled Clinic", "GB")
    assert hospital._state.adding is False


def test_update_row_writes_what_save_with_update_fields_would():
    hospital = HospitalFactory(name="Before", city="Here")
    other = HospitalFactory(name="Untouched")
    stamped = hospital.updated_at
    hospital.name, hospital.city = "After", "Elsewhere"
    update_row(hospital, ["name", "updated_at"])  # city is not among the fields
    stored = Hospital.objects.get(pk=hospital.pk)
    assert (stored.name, stored.city) == ("After", "Here")
    assert stored.updated_at > stamped  # auto_now, as save() sets it
    assert stored.updated_at == hospital.updated_at
    assert Hospital.objects.get(pk=other.pk).name == "Untouched"


def test_update_row_of_a_missing_row_is_an_error():
    from django.db import DatabaseError

    hospital = HospitalFactory()
    Hospital.objects.filter(pk=hospital.pk).delete()
    with pytest.raises(DatabaseError, match="no Hospital"):
        update_row(hospital, ["name"])
