"""The API's page-number pagination, without a COUNT query when the first page tells it.

DRF's paginator counts every list before reading its page. When the first page is not
full, it already holds the whole list, so its length is the total. Most lists here fit
one page (a week's free slots, a patient's appointments, a clinician's agenda), so most
requests skip the count.

Later pages, and a full first page, count without reading a whole table (issue #19):
``flat_count`` counts at most ``COUNT_CAP + 1`` rows, and a longer list reports
PostgreSQL's estimate (pg_class.reltuples for a whole table, the planner's row estimate
for a filtered one). ``count`` is exact up to 10,000; past that it is an estimate, and a
page past the real end is an empty page.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework.pagination import PageNumberPagination

# A list counts at most this many rows; past it, PostgreSQL's estimate.
COUNT_CAP = 10_000


def flat_count(queryset: QuerySet[Any]) -> int:
    """The queryset's length, exact up to ``COUNT_CAP``, at a cost that does not grow with
    the table: a count of at most ``COUNT_CAP + 1`` rows, and past it PostgreSQL's
    estimate (the table's statistics when unfiltered, the planner's rows when filtered;
    elsewhere the bounded count). Statistics never make a short list's count wrong."""
    # Unfiltered, the rows are counted off the primary key's index (an index-only scan
    # that stops at the cap); filtered, the planner picks the filter's index.
    first_rows = queryset.order_by() if queryset.query.where else queryset.order_by("pk")
    bounded = first_rows[: COUNT_CAP + 1].count()
    if bounded <= COUNT_CAP or connections[queryset.db].vendor != "postgresql":
        return bounded
    estimate = table_estimate(queryset) if not queryset.query.where else planner_rows(queryset)
    return max(bounded, estimate)


def table_estimate(queryset: QuerySet[Any]) -> int:
    """PostgreSQL's row estimate of the queryset's table (-1 before its first ANALYZE)."""
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else -1


def planner_rows(queryset: QuerySet[Any]) -> int:
    """The rows PostgreSQL's planner expects the queryset to return (none are read)."""
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


class CountSparingPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            return flat_count(self.object_list)
        return int(super().count)  # a list, or rows of the view's own kind

    def page(self, number: Any) -> Page:
        if str(number) != "1" or self.orphans:
            return super().page(number)
        rows = list(self.object_list[: self.per_page])
        if len(rows) < self.per_page:
            self.__dict__["count"] = len(rows)  # fills the cached_property: no COUNT query
        return Page(rows, 1, self)


class DefaultPagination(PageNumberPagination):
    django_paginator_class = CountSparingPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
