"""A django-filter FilterSet that builds its form class once and filters in one call."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.constants import EMPTY_VALUES
from django_filters.filters import ChoiceFilter, Filter

# Filter classes whose ``filter()`` is a plain ``qs.filter(**{field__lookup: value})``.
_PLAIN_FILTERS = (Filter.filter, ChoiceFilter.filter)


class StaticFilterSet(django_filters.FilterSet):
    """For filter sets whose filters do not depend on the request (all of Carebook's).

    django-filter creates a new form class, with a new form field per filter, for every
    request, and applies each filter as its own ``QuerySet.filter()`` (a copy of the
    query each). On a list request those were a sixth of the time. Here the form class
    is built on first use (after any filters added to ``base_filters`` at import time),
    and plain filters on the model's own columns go into one ``filter()`` call: the same
    SQL, since no lookup crosses a multi-valued relation. Anything else is django-filter's.
    """

    _form_class: type[Any] | None = None

    def get_form_class(self) -> type[Any]:
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._form_class = form_class
        return form_class

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        lookups: dict[str, Any] = {}
        for name, value in self.form.cleaned_data.items():
            if value in EMPTY_VALUES:
                continue
            lookup = _plain_lookup(self.filters[name], value)
            if lookup is None:
                return super().filter_queryset(queryset)
            lookups[lookup] = (
                None if value == getattr(self.filters[name], "null_value", ()) else value
            )
        return queryset.filter(**lookups) if lookups else queryset


def _plain_lookup(filter_: Filter, value: Any) -> str | None:
    plain = type(filter_).filter in _PLAIN_FILTERS
    if not plain or filter_.distinct or filter_.exclude or filter_.method:
        return None
    if "__" in filter_.field_name:  # across a relation: chained filters may differ
        return None
    if getattr(filter_, "null_label", None) is not None:  # its "null" choice means IS NULL
        return None
    return f"{filter_.field_name}__{filter_.lookup_expr}"
