"""core.postgresql reads timestamptz exactly as Django's own backend does, with psycopg's
C loader in a UTC session."""

from __future__ import annotations

import datetime
import re
import zoneinfo

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from hypothesis import given
from hypothesis import strategies as st
from psycopg import DataError, adapt, adapters
from psycopg.postgres import types
from psycopg.pq import Format

from core.postgresql.base import UTCTimestamptzLoader, adapters_with_fast_loader

TIMESTAMPTZ = types["timestamptz"].oid
UTC = datetime.UTC


def loaders(zone):
    """(Django's loader, ours) for values PostgreSQL writes in a UTC session."""
    django_map = adapt.AdaptersMap(adapters)
    register_tzloader(zone, type("Context", (), {"adapters": django_map})())
    ours_map = adapters_with_fast_loader(django_map, zone)  # as the backend: Django's map
    django_cls = django_map.get_loader(TIMESTAMPTZ, Format.TEXT)
    ours_cls = ours_map.get_loader(TIMESTAMPTZ, Format.TEXT)
    return django_cls(TIMESTAMPTZ), ours_cls(TIMESTAMPTZ)


TEXTS = [
    b"2026-12-03 09:00:00+00",
    b"2026-12-03 09:00:00.123456+00",
    b"2026-12-03 09:00:00.5+00",
    b"0001-01-01 00:00:00+00",
    b"9999-12-31 23:59:59.999999+00",
    b"2026-03-29 01:30:00+01",  # another session zone: Django's parse
    b"2026-03-29 01:30:00+05:30",
]


@pytest.mark.parametrize("zone", [UTC, None])
@pytest.mark.parametrize("text", TEXTS)
def test_the_fast_loader_reads_what_djangos_reads(zone, text):
    django_loader, ours = loaders(zone)
    assert ours.load(text) == django_loader.load(text)
    assert ours.load(text).tzinfo is django_loader.load(text).tzinfo


@pytest.mark.parametrize("text", [b"0044-03-15 00:00:00+00 BC", b"infinity", b"-infinity"])
def test_values_python_cannot_hold_fail_the_same_way(text):
    django_loader, ours = loaders(UTC)
    with pytest.raises(DataError) as django_error:
        django_loader.load(text)
    with pytest.raises(DataError, match=re.escape(str(django_error.value))):
        ours.load(text)


@given(st.datetimes(timezones=st.just(UTC)))
def test_any_utc_time_round_trips_through_the_text_form(moment):
    django_loader, ours = loaders(UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f").encode() + b"+00"
    assert ours.load(text) == django_loader.load(text) == moment


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_connection_uses_it_and_reads_back_what_it_wrote():
    assert connection.settings_dict["ENGINE"] == "core.postgresql"
    moment = datetime.datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz, 'infinity'::text", [moment])
        (value, _) = cursor.fetchone()
        loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ, 0)
    assert value == moment
    assert value.tzinfo is UTC
    assert loader is UTCTimestamptzLoader
    assert type(loader(TIMESTAMPTZ)) is adapters.get_loader(TIMESTAMPTZ, Format.TEXT)


def test_only_a_utc_connection_zone_changes_the_loader():
    django_map = adapt.AdaptersMap(adapters)
    assert adapters_with_fast_loader(django_map, None) is django_map
    assert adapters_with_fast_loader(django_map, zoneinfo.ZoneInfo("UTC")) is django_map
