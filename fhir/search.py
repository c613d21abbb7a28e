"""FHIR search: one value of a parameter becomes a ``Q``, a request's parameters one
filtered queryset, read a page at a time in index order (keyset paging).

Parameter values follow FHIR R4 search: a comma separates alternatives (OR), a
repeated parameter narrows (AND); ``date`` values take the prefixes ``eq`` (the
default), ``ge``, ``le``, ``gt``, ``lt`` and any precision from a year to a fraction of a
second (a time without an offset is UTC); ``token`` values may carry ``system|``;
``reference`` values are ``Type/id``, a bare id, or an absolute URL ending in
``Type/id``. Unknown parameters are ignored and reported as a warning in the Bundle
(``Prefer: handling=strict`` makes them a 400); a known parameter with a modifier, or a
value that cannot be read, is a 400.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet, Window
from django.http import QueryDict

from core.fields import MAX_ID
from fhir.errors import InvalidSearch

DEFAULT_COUNT = 50
MAX_COUNT = 200
MAX_VALUE_LENGTH = 256
# Parameters about the result, not the match.
COUNT, CURSOR, FORMAT = "_count", "_cursor", "_format"
RESULT_PARAMETERS = frozenset({COUNT, CURSOR, FORMAT})

NOTHING = Q(pk__in=[])  # matches no row


@dataclass(frozen=True)
class SearchParam:
    """One search parameter: its FHIR type and how one value (one alternative) matches."""

    name: str
    type: str  # string | token | reference | date
    documentation: str
    match: Callable[[str, datetime], Q]


@dataclass(frozen=True)
class Criteria:
    """What a request asked for: the conditions (ANDed), the parameters used (for the
    links) and those ignored (for the warning)."""

    conditions: list[Q] = field(default_factory=list)
    used: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def criteria_from(
    query: QueryDict, params: Sequence[SearchParam], *, strict: bool, now: datetime
) -> Criteria:
    known = {param.name: param for param in params}
    criteria = Criteria()
    for raw_name, values in query.lists():
        name, _, modifier = raw_name.partition(":")
        if name in RESULT_PARAMETERS:
            continue
        if name not in known:
            if strict:
                raise InvalidSearch(f"Unknown search parameter {raw_name!r}.")
            criteria.ignored.append(raw_name)
            continue
        if modifier:
            raise InvalidSearch(f"The modifier {modifier!r} of {name!r} is not supported.")
        for value in values:
            if value == "":
                continue  # FHIR: a parameter without a value is ignored
            criteria.conditions.append(_one_value(known[name], value, now))
            criteria.used.append((name, value))
    return criteria


def _one_value(param: SearchParam, value: str, now: datetime) -> Q:
    if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
        raise InvalidSearch(f"The value of {param.name!r} is too long or not text.")
    condition = NOTHING
    for alternative in value.split(","):
        condition |= param.match(alternative, now)
    return condition


# --- value readers ----------------------------------------------------------------------


def token_code(value: str) -> str:
    """The code of a token value (``system|code``, ``|code``, ``code``)."""
    return value.rpartition("|")[2]


def token_system(value: str) -> str | None:
    """The system of a token value, or None when the value names none."""
    system, bar, _ = value.rpartition("|")
    return system if bar else None


def reference_id(value: str, resource_type: str) -> int | None:
    """The Carebook id a reference value names for ``resource_type``; None when it names
    another type or an id that cannot exist here (it then matches nothing)."""
    parts = value.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] != resource_type:
        return None
    raw = parts[-1]
    if not raw.isascii() or not raw.isdigit():
        return None
    number = int(raw)
    return number if 1 <= number <= MAX_ID else None


_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,9})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_PREFIXES = ("eq", "ge", "le", "gt", "lt")


@dataclass(frozen=True)
class DateValue:
    """A date search value: its prefix and the half-open range ``[lower, upper)`` its
    precision covers."""

    prefix: str
    lower: datetime
    upper: datetime


def date_value(value: str) -> DateValue:
    prefix = value[:2] if value[:2].isalpha() else "eq"
    text = value[2:] if value[:2].isalpha() else value
    if prefix not in _PREFIXES:
        raise InvalidSearch(f"The date prefix {prefix!r} is not supported.")
    # An unencoded "+" in a query string arrives as a space: take it back.
    found = _DATE.fullmatch(text.replace(" ", "+"))
    if found is None:
        raise InvalidSearch(f"{text!r} is not a FHIR date or dateTime.")
    try:
        lower, upper = _range(found)
    except (ValueError, OverflowError):
        raise InvalidSearch(f"{text!r} is not a valid date.") from None
    return DateValue(prefix, lower, upper)


def _range(found: re.Match[str]) -> tuple[datetime, datetime]:
    units = ("year", "month", "day", "hour", "minute", "second")
    part = {name: int(found[name]) for name in units if found[name]}
    zone = _zone(found["zone"])
    lower = datetime(
        part["year"], part.get("month", 1), part.get("day", 1),
        part.get("hour", 0), part.get("minute", 0), part.get("second", 0), tzinfo=zone,
    )  # fmt: skip
    if found["fraction"]:
        lower += timedelta(microseconds=int(found["fraction"][1:7].ljust(6, "0")))
        return lower, lower + timedelta(microseconds=1)
    if found["second"]:
        return lower, lower + timedelta(seconds=1)
    if found["minute"]:
        return lower, lower + timedelta(minutes=1)
    if found["day"]:
        return lower, lower + timedelta(days=1)
    if found["month"]:
        days = calendar.monthrange(lower.year, lower.month)[1]
        return lower, lower + timedelta(days=days)
    return lower, lower.replace(year=lower.year + 1)


def _zone(text: str | None) -> Any:
    if not text or text == "Z":
        return UTC
    return datetime.strptime(text, "%z").tzinfo


def instant_matches(field_name: str, value: str) -> Q:
    """A date value against a single instant column (a slot's or appointment's start)."""
    found = date_value(value)
    lower, upper = found.lower, found.upper
    return {
        "eq": Q(**{f"{field_name}__gte": lower, f"{field_name}__lt": upper}),
        "ge": Q(**{f"{field_name}__gte": lower}),
        "gt": Q(**{f"{field_name}__gte": upper}),
        "le": Q(**{f"{field_name}__lt": upper}),
        "lt": Q(**{f"{field_name}__lt": lower}),
    }[found.prefix]


def day_matches(field_name: str, value: str) -> Q:
    """A date value of day precision or coarser against a date column (a birth date)."""
    found = date_value(value)
    if found.upper - found.lower < timedelta(days=1):
        raise InvalidSearch("A birth date is searched by year, month or day.")
    lower, upper = found.lower.date(), found.upper.date()
    return {
        "eq": Q(**{f"{field_name}__gte": lower, f"{field_name}__lt": upper}),
        "ge": Q(**{f"{field_name}__gte": lower}),
        "gt": Q(**{f"{field_name}__gte": upper}),
        "le": Q(**{f"{field_name}__lt": upper}),
        "lt": Q(**{f"{field_name}__lt": lower}),
    }[found.prefix]


def name_matches(value: str, *fields: str) -> Q:
    """FHIR string search: case-insensitive, the start of any of the name parts."""
    condition = NOTHING
    for name in fields:
        condition |= Q(**{f"{name}__istartswith": value})
    return condition


# --- paging -----------------------------------------------------------------------------


def count_from(query: QueryDict) -> int:
    raw = query.get(COUNT)
    if raw is None or raw == "":
        return DEFAULT_COUNT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise InvalidSearch("_count must be a whole number from 0.")
    return min(int(raw), MAX_COUNT)  # FHIR lets a server return fewer than asked


def encode_cursor(row: Any, order: Sequence[str]) -> str:
    return cursor_of([getattr(row, name) for name in order])


def cursor_of(values: Sequence[Any]) -> str:
    """The ``_cursor`` after a row whose keyset (``order``'s columns) holds ``values``."""
    plain = [_cursor_value(value) for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _cursor_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def after_cursor(raw: str, order: Sequence[str]) -> Q:
    """The rows after the one ``raw`` names, in ``order`` (the last name is the id)."""
    try:
        padded = raw + "=" * (-len(raw) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError
        *leading, last_id = values
        if isinstance(last_id, bool) or not isinstance(last_id, int) or last_id > MAX_ID:
            raise ValueError
        moments = [datetime.fromisoformat(value) for value in leading]
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InvalidSearch("_cursor is not one this server gave.") from None
    if not moments:
        return Q(**{f"{order[-1]}__gt": last_id})
    (moment,) = moments  # every keyset here is (start, id)
    if moment.tzinfo is None:
        raise InvalidSearch("_cursor is not one this server gave.")
    return Q(**{f"{order[0]}__gt": moment}) | Q(**{order[0]: moment, f"{order[-1]}__gt": last_id})


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int
    next_cursor: str | None


_TOTAL = "search_total_rows"


def page_of(queryset: QuerySet[Any], query: QueryDict, order: Sequence[str]) -> Page:
    """One page of ``queryset`` in ``order`` after ``_cursor``, ``_count`` long (one row
    more tells whether a next page exists), with the total of the whole search. A first
    page counts its matches in the same statement (``COUNT(*) OVER ()``, counted before
    the LIMIT); a later page, or ``_count=0``, runs a COUNT."""
    count = count_from(query)
    cursor = query.get(CURSOR)
    page = queryset.order_by(*order)
    if cursor:
        page = page.filter(after_cursor(cursor, order))
    else:
        page = page.annotate(**{_TOTAL: Window(Count("*"))})
    rows = list(page[: count + 1]) if count else []
    more = len(rows) > count
    rows = rows[:count]
    if rows and not cursor:
        total = int(getattr(rows[0], _TOTAL))
    else:
        total = 0 if count and not cursor and not rows else queryset.count()
    next_cursor = encode_cursor(rows[-1], order) if more and rows else None
    return Page(rows=rows, total=total, next_cursor=next_cursor)


def link_url(base: str, pairs: Sequence[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(list(pairs))}" if pairs else base
