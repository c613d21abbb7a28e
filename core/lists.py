"""List endpoints whose pages are read through ``core.sql.CompiledRows``.

``CompiledListMixin`` keeps DRF's pagination, django-filter's validation of the query
string and the error envelope; only the read of the rows changes. What it buys, and how
it was measured: docs/performance.md ("What the performance layer buys").

A list's filters become bound parameters of a statement compiled once per shape, so
each must be a plain lookup on the model's own column whose form field cleans to a
value ``core.sql`` can stand in for (an int, a text or a time). A view whose
``filterset_class`` has any other filter is refused when its class is declared
(``ImproperlyConfigured`` at import), never on a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django_filters import fields as filter_fields
from rest_framework.request import Request
from rest_framework.response import Response

from core.filters import StaticFilterSet, _plain_lookup
from core.sql import CompiledRows, ListQuery

# The form fields whose cleaned values core.sql can bind (ints, texts, times). Exact
# classes: a subclass may clean to another type (DecimalField is an IntegerField).
BINDABLE_FIELDS = (
    forms.IntegerField, forms.CharField, forms.ChoiceField, filter_fields.ChoiceField,
    forms.DateTimeField, filter_fields.IsoDateTimeField,
)  # fmt: skip


class CompiledListMixin:
    """For a ``generics.ListAPIView`` whose ``filterset_class`` is a StaticFilterSet of
    plain filters. Subclasses give ``columns`` (what a row holds), ``list_query`` (the
    read, from the validated filters) and ``page_output`` (the body of a page of row
    tuples in ``columns`` order). After ReplicaListMixin, before ListAPIView in the bases."""

    columns: Sequence[str] = ()
    # page_output writes times with core.serialization.api_datetime_writer: UTC datetimes
    # that core.renderers lets orjson write.
    output_times_are_utc = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        filterset_class = getattr(cls, "filterset_class", None)
        if filterset_class is not None:
            refuse_unbindable_filters(cls.__name__, filterset_class)

    def list_query(self, filters: dict[str, Any]) -> ListQuery:
        raise NotImplementedError

    def page_output(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        view: Any = self
        rows = CompiledRows(self.list_query(self.valid_filters(request)), self.columns)
        page = view.paginate_queryset(rows)
        return view.get_paginated_response(self.page_output(page))

    def valid_filters(self, request: Request) -> dict[str, Any]:
        """The query string's filters as ORM lookups; invalid ones are a 400, as
        django-filter's DjangoFilterBackend answers them."""
        filterset_class: type[StaticFilterSet] = getattr(self, "filterset_class")  # noqa: B009
        # Never None: every filter was checked to be a plain lookup at declaration.
        return cast(dict[str, Any], filterset_class.valid_lookups(request.query_params))


def refuse_unbindable_filters(view: str, filterset_class: type[Any]) -> None:
    """Raise ``ImproperlyConfigured`` unless every filter of ``filterset_class`` is a plain
    lookup whose value core.sql can bind."""
    if not issubclass(filterset_class, StaticFilterSet):
        raise ImproperlyConfigured(
            f"{view}: {filterset_class.__name__} must be a core.filters.StaticFilterSet"
        )
    for name, filter_ in filterset_class.base_filters.items():
        kind = type(filter_).__name__
        if _plain_lookup(filter_, None) is None:
            raise ImproperlyConfigured(
                f"{view}: filter {name!r} ({kind}) is not a plain lookup on the model's own "
                "column; a compiled list cannot bind it (read this list with the ORM)"
            )
        if filter_.field_class not in BINDABLE_FIELDS:
            raise ImproperlyConfigured(
                f"{view}: filter {name!r} ({kind}) cleans its value with "
                f"{filter_.field_class.__name__}; a compiled list binds only ints, texts "
                "and times (read this list with the ORM)"
            )
