"""What core.sql and core.lists refuse: a compiled list whose filters it cannot bind (when
the view is declared, not on a request), and a row write that would skip save signals."""

from __future__ import annotations

import django_filters
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_save, pre_save
from rest_framework import generics

from accounts.models import Hospital, User
from core.filters import StaticFilterSet
from core.lists import CompiledListMixin
from core.sql import insert_row, update_row
from scheduling.filters import AppointmentFilter
from scheduling.models import Appointment, Slot


def declare_list(filterset_class):
    """Given a filter set, when a compiled list view is declared with it (a class
    statement, as at import), then this returns the class or raises."""
    return type(
        "DeclaredList",
        (CompiledListMixin, generics.ListAPIView),
        {"filterset_class": filterset_class, "queryset": Slot.objects.none()},
    )


class PlainSlotFilter(StaticFilterSet):
    status = django_filters.ChoiceFilter(choices=Slot.Status.choices)
    since = django_filters.IsoDateTimeFilter(field_name="start", lookup_expr="gte")

    class Meta:
        model = Slot
        fields = ["status"]


class BooleanSlotFilter(PlainSlotFilter):
    unset = django_filters.BooleanFilter(field_name="hospital_id", lookup_expr="isnull")


class DecimalSlotFilter(PlainSlotFilter):
    clinician = django_filters.NumberFilter(field_name="clinician_id")  # cleans to Decimal


class MethodSlotFilter(PlainSlotFilter):
    mine = django_filters.CharFilter(method="only_mine")

    def only_mine(self, queryset, name, value):  # pragma: no cover - never declared
        return queryset


class AcrossRelationFilter(PlainSlotFilter):
    clinician_name = django_filters.CharFilter(field_name="clinician__last_name")


class GenericFilter(django_filters.FilterSet):
    class Meta:
        model = Slot
        fields = ["status"]


def test_a_list_of_plain_bindable_filters_is_declared():
    assert declare_list(PlainSlotFilter).filterset_class is PlainSlotFilter
    assert declare_list(AppointmentFilter)  # the real one: ids, choices, from/to times


@pytest.mark.parametrize(
    ("filterset_class", "message"),
    [
        (BooleanSlotFilter, r"'unset' \(BooleanFilter\) cleans its value with NullBooleanField"),
        (DecimalSlotFilter, r"'clinician' \(NumberFilter\) cleans its value with DecimalField"),
        (MethodSlotFilter, r"'mine' \(CharFilter\) is not a plain lookup"),
        (AcrossRelationFilter, r"'clinician_name' \(CharFilter\) is not a plain lookup"),
        (GenericFilter, r"GenericFilter must be a core.filters.StaticFilterSet"),
    ],
)
def test_a_list_with_a_filter_sql_cannot_bind_is_refused_when_declared(filterset_class, message):
    with pytest.raises(ImproperlyConfigured, match=f"DeclaredList: .*{message}"):
        declare_list(filterset_class)


def test_a_mixin_without_a_filter_set_is_not_checked_until_a_view_gives_one():
    mixin = type("Rows", (CompiledListMixin,), {"columns": ("id",)})
    with pytest.raises(ImproperlyConfigured, match="NullBooleanField"):
        type("Listed", (mixin,), {"filterset_class": BooleanSlotFilter})


@pytest.fixture
def save_receiver():
    """A receiver of Hospital's saves, connected for one test."""
    calls = []

    def receiver(sender, **kwargs):
        calls.append(sender)

    yield receiver
    for signal in (pre_save, post_save):
        signal.disconnect(receiver, sender=Hospital)


@pytest.mark.parametrize("signal", [pre_save, post_save], ids=["pre_save", "post_save"])
def test_insert_row_refuses_a_model_with_a_save_receiver(save_receiver, signal):
    signal.connect(save_receiver, sender=Hospital)
    hospital = Hospital(code="SIG-1", name="Signalled", country="GB")
    with pytest.raises(ImproperlyConfigured, match=r"insert_row: Hospital has .* receivers"):
        insert_row(hospital, ["code", "name", "country"])
    assert hospital.pk is None  # refused before any SQL


def test_update_row_refuses_a_model_with_a_save_receiver(save_receiver):
    post_save.connect(save_receiver, sender=Hospital)
    with pytest.raises(ImproperlyConfigured, match="update_row: Hospital has post_save"):
        update_row(Hospital(pk=1, name="Renamed"), ["name"])


def test_a_real_receiver_is_refused_too():
    # accounts.authentication forgets a cached user on post_save: a User must be saved.
    with pytest.raises(ImproperlyConfigured, match="insert_row: User has post_save"):
        insert_row(User(email="signalled@example.com"), ["email"])


def test_the_models_written_by_insert_row_and_update_row_have_no_save_receivers():
    from core.models import OutboxEvent

    audit_event = Appointment._meta.apps.get_model("audit", "AuditEvent")
    for model in (Appointment, Slot, OutboxEvent, audit_event):
        for signal in (pre_save, post_save):
            assert not signal.has_listeners(model), (model.__name__, signal)
