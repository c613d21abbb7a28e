"""Query-string filters of the scheduling lists (django-filter)."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from core.fields import MAX_ID
from core.filters import StaticFilterSet
from scheduling.models import Appointment, Mode, Slot


@extend_schema_field(OpenApiTypes.INT64)
class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


def _from_filter() -> django_filters.IsoDateTimeFilter:
    return django_filters.IsoDateTimeFilter(
        field_name="start", lookup_expr="gte", label="Starts at or after (ISO 8601)"
    )


def _to_filter() -> django_filters.IsoDateTimeFilter:
    return django_filters.IsoDateTimeFilter(
        field_name="start", lookup_expr="lt", label="Starts before (ISO 8601)"
    )


class SlotFilter(StaticFilterSet):
    clinician = IdFilter(field_name="clinician_id")
    hospital = IdFilter(field_name="hospital_id")
    status = django_filters.ChoiceFilter(choices=Slot.Status.choices)
    mode = django_filters.ChoiceFilter(choices=Mode.choices)

    class Meta:
        model = Slot
        fields = ["clinician", "hospital", "status", "mode"]


class AppointmentFilter(StaticFilterSet):
    clinician = IdFilter(field_name="clinician_id")
    patient = IdFilter(field_name="patient_id")
    status = django_filters.ChoiceFilter(choices=Appointment.Status.choices)

    class Meta:
        model = Appointment
        fields = ["clinician", "patient", "status"]


# ``from`` is a Python keyword, so these two query parameters are added by name.
for _filterset in (SlotFilter, AppointmentFilter):
    _filterset.base_filters["from"] = _from_filter()
    _filterset.base_filters["to"] = _to_filter()
