"""A django-filter FilterSet that builds its form class once and filters in one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.utils import ErrorDict, ErrorList
from django.http import QueryDict
from django_filters.constants import EMPTY_VALUES
from django_filters.filters import ChoiceFilter, Filter
from django_filters.utils import translate_validation

# Filter classes whose ``filter()`` is a plain ``qs.filter(**{field__lookup: value})``.
_PLAIN_FILTERS = (Filter.filter, ChoiceFilter.filter)


class StaticFilterSet(django_filters.FilterSet):
    """For filter sets whose filters do not depend on the request (all of Carebook's).

    django-filter creates a new form class, with a new form field per filter, for every
    request, and applies each filter as its own ``QuerySet.filter()`` (a copy of the
    query each): a real share of a list request (docs/performance.md). Here the form class
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

    @classmethod
    def valid_lookups(cls, data: QueryDict) -> dict[str, Any] | None:
        """``plain_lookups`` of the query string ``data``, cleaned as this filter set's
        form cleans it; invalid, it raises DRF's ValidationError as DjangoFilterBackend
        does. Neither a filter set nor a form is made (each copies all of its filters or
        fields): the form class's own fields clean the values, as a form would."""
        form_class = cls.__dict__.get("_form_class") or cls().get_form_class()
        cleaned: dict[str, Any] = {}
        errors = ErrorDict()
        for name, field in form_class.base_fields.items():
            try:
                cleaned[name] = field.clean(field.widget.value_from_datadict(data, {}, name))
            except ValidationError as error:
                errors[name] = ErrorList(error.error_list)
        if errors:
            raise translate_validation(errors)
        return _lookups(cls.base_filters, cleaned)

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        lookups = self.plain_lookups()
        if lookups is None:
            return super().filter_queryset(queryset)
        return queryset.filter(**lookups) if lookups else queryset

    def plain_lookups(self) -> dict[str, Any] | None:
        """The valid form's filters as the keyword arguments of one ``filter()`` call
        (``{"start__gte": …}``), or None where one of them is more than a plain lookup."""
        return _lookups(self.filters, self.form.cleaned_data)


def _lookups(filters: Mapping[str, Filter], cleaned: Mapping[str, Any]) -> dict[str, Any] | None:
    lookups: dict[str, Any] = {}
    for name, value in cleaned.items():
        if value in EMPTY_VALUES:
            continue
        lookup = _plain_lookup(filters[name], value)
        if lookup is None:
            return None
        lookups[lookup] = None if value == getattr(filters[name], "null_value", ()) else value
    return lookups


def _plain_lookup(filter_: Filter, value: Any) -> str | None:
    plain = type(filter_).filter in _PLAIN_FILTERS
    if not plain or filter_.distinct or filter_.exclude or filter_.method:
        return None
    if "__" in filter_.field_name:  # across a relation: chained filters may differ
        return None
    if getattr(filter_, "null_label", None) is not None:  # its "null" choice means IS NULL
        return None
    return f"{filter_.field_name}__{filter_.lookup_expr}"
