"""JSON for stored records (audit rows, outbox payloads, job results), and API times."""

from __future__ import annotations

import datetime
import json
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone


class ExactJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder, but times keep their microseconds (it cuts them to ms)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: exactly what the database will give back."""
    return json.loads(json.dumps(value, cls=ExactJSONEncoder))


def api_datetime(
    value: datetime.datetime | None, zone: datetime.tzinfo | None = None
) -> str | None:
    """A time as DRF's ``DateTimeField`` writes it: ISO 8601 in the current time zone
    (UTC), ``Z`` for a zero offset. For output serializers that build their dict by hand;
    ``zone`` saves the current-zone lookup when a caller writes many times at once."""
    if value is None:
        return None
    text = value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


DatetimeWriter = Callable[[datetime.datetime | None], datetime.datetime | str | None]


def api_datetime_writer(zone: datetime.tzinfo | None = None) -> DatetimeWriter:
    """``api_datetime`` for many times in one zone (a list page's). For the UTC zone, a
    time read in UTC (as the database gives them) is returned as it is: DRF's encoder
    writes it as the same text, and so does orjson in C for a view that declares
    ``output_times_are_utc`` (core.renderers)."""
    zone = zone or timezone.get_current_timezone()
    if zone not in _UTC_ZONES:
        return lambda value: api_datetime(value, zone)

    def write(value: datetime.datetime | None) -> datetime.datetime | str | None:
        if value is None or value.tzinfo is datetime.UTC:
            return value
        return api_datetime(value, zone)

    return write


_UTC_ZONES = (datetime.UTC, zoneinfo.ZoneInfo("UTC"))
