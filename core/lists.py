"""List endpoints whose pages are read with SQL compiled once per shape (core.sql).

On a list request the ORM's query building and compiling cost more CPU than the
database spent answering (~40 % of a request). ``CompiledListMixin`` keeps DRF's
pagination, django-filter's validation of the query string and the error envelope, and
reads the rows through ``core.sql.CompiledRows``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from core.filters import StaticFilterSet
from core.sql import CompiledRows, ListQuery


class CompiledListMixin:
    """For a ``generics.ListAPIView`` whose ``filterset_class`` is a StaticFilterSet of
    plain filters. Subclasses give ``columns`` (what a row holds), ``list_query`` (the
    read, from the validated filters) and ``page_output`` (the body of a page of row
    tuples in ``columns`` order). After ReplicaListMixin, before ListAPIView in the bases."""

    columns: Sequence[str] = ()
    # page_output writes times with core.serialization.api_datetime_writer (core.renderers).
    output_times_are_utc = True

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
        lookups = filterset_class.valid_lookups(request.query_params)
        if lookups is None:
            raise TypeError(f"{filterset_class.__name__} has a filter that is not a lookup")
        return lookups
