"""Query-string filters of the directory lists (django-filter)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from accounts.models import CLINICIAN_ROLES, Hospital, User


class ClinicianFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(
        field_name="role", choices=[(r.value, r.label) for r in CLINICIAN_ROLES]
    )
    specialty = django_filters.CharFilter(
        field_name="clinician_profile__specialty", lookup_expr="icontains"
    )
    hospital = django_filters.ModelChoiceFilter(
        field_name="clinician_profile__hospital", queryset=Hospital.objects.all()
    )

    class Meta:
        model = User
        fields = ["kind", "specialty", "hospital"]


class HospitalFilter(django_filters.FilterSet):
    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact")
    city = django_filters.CharFilter(field_name="city", lookup_expr="iexact")
    region = django_filters.CharFilter(field_name="region", lookup_expr="iexact")
    q = django_filters.CharFilter(method="filter_q", label="Name or code contains")

    class Meta:
        model = Hospital
        fields = ["country", "city", "region", "q"]

    def filter_q(self, queryset: QuerySet[Hospital], name: str, value: str) -> QuerySet[Hospital]:
        return queryset.filter(Q(name__icontains=value) | Q(code__icontains=value))
