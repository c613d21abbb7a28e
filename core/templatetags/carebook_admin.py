"""``flat_date_hierarchy``: Django's admin date hierarchy without a scan of the table.

Django's tag lists the years (months, days) that hold rows with ``SELECT DISTINCT
date_trunc(...)`` over every row of the change list: millions on a grown audit trail or
appointment book. This one draws the same links from the list's first and last date
(``MIN``/``MAX``, one index probe each): every period between them, some of which may hold
no rows (opening one shows an empty page, as a filter with no match does).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from django import template
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

register = template.Library()


class PeriodsBetween:
    """Stands in for the change list's queryset in Django's tag: ``aggregate`` as is,
    ``dates``/``datetimes`` from the first and last value instead of a DISTINCT."""

    def __init__(self, queryset: QuerySet[Any]) -> None:
        self.queryset = queryset

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.queryset.aggregate(*args, **kwargs)

    def dates(self, field: str, kind: str) -> list[datetime.date]:
        return [moment.date() for moment in self._periods(field, kind, aware=False)]

    def datetimes(self, field: str, kind: str) -> list[datetime.datetime]:
        return list(self._periods(field, kind, aware=True))

    def _periods(self, field: str, kind: str, *, aware: bool) -> Iterator[datetime.datetime]:
        ends = self.queryset.aggregate(first=Min(field), last=Max(field))
        first, last = ends["first"], ends["last"]
        if first is None or last is None:
            return
        if aware:
            first, last = timezone.localtime(first), timezone.localtime(last)
        moment = period_start(_as_datetime(first), kind)
        last_start = period_start(_as_datetime(last), kind)
        while moment <= last_start:
            yield moment
            moment = next_period(moment, kind)


def _as_datetime(value: datetime.date) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime(value.year, value.month, value.day)


def period_start(moment: datetime.datetime, kind: str) -> datetime.datetime:
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind in ("month", "year"):
        start = start.replace(day=1)
    if kind == "year":
        start = start.replace(month=1)
    return start


def next_period(moment: datetime.datetime, kind: str) -> datetime.datetime:
    if kind == "day":
        return period_start(moment + datetime.timedelta(days=1), kind)
    if kind == "month":
        return period_start(moment + datetime.timedelta(days=32), kind)
    return moment.replace(year=moment.year + 1)


class _FlatChangeList:
    def __init__(self, changelist: Any) -> None:
        self._changelist = changelist
        self.queryset = PeriodsBetween(changelist.queryset)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._changelist, name)


@register.inclusion_tag("admin/date_hierarchy.html")
def flat_date_hierarchy(changelist: Any) -> dict[str, Any] | None:
    return date_hierarchy(_FlatChangeList(changelist))  # type: ignore[arg-type]  # duck-typed
