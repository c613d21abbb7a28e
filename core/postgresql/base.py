"""Django's PostgreSQL backend, reading ``timestamptz`` values with psycopg's own loader
(its C one where psycopg's binary package is installed) instead of Django's subclass of
psycopg's pure-Python one.

Contract: where the connection's zone is UTC (``USE_TZ``: Django keeps the session's
``TimeZone`` at UTC) every value and its tzinfo (``datetime.timezone.utc``) are what
Django's loader gives, errors included (tests/core/test_postgresql_backend.py compares
the two). Any other zone, or ``USE_TZ = False`` (naive times), keeps Django's loader.

Selected by ``config/settings.py`` as ``ENGINE = "core.postgresql"`` for PostgreSQL URLs
only: the SQLite demo (``make run``) runs Django's SQLite backend and never loads this
module. What it buys: docs/performance.md ("What the performance layer buys").
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from django.db.backends.postgresql import base
from psycopg import adapt, adapters
from psycopg.abc import AdaptContext
from psycopg.postgres import types
from psycopg.pq import Format

TIMESTAMPTZ = types["timestamptz"].oid


@lru_cache
def adapters_with_fast_loader(template: adapt.AdaptersMap, zone: Any) -> adapt.AdaptersMap:
    """``template`` (Django's adapters for ``zone``), reading ``timestamptz`` with
    psycopg's own loader (its C one where psycopg's binary package is installed)."""
    if zone is not datetime.UTC:
        return template
    mapped = adapt.AdaptersMap(template)
    mapped.register_loader(TIMESTAMPTZ, UTCTimestamptzLoader)  # type: ignore[arg-type]
    return mapped


class UTCTimestamptzLoader:
    """Stands in for psycopg's loader class, which cannot be subclassed (a C type):
    instantiating it gives an instance of psycopg's loader. What it adds is the
    ``timezone`` attribute that Django's cursors compare with their own zone before they
    would register Django's loader over it."""

    format = Format.TEXT
    timezone = datetime.UTC

    def __new__(cls, oid: int, context: AdaptContext | None = None) -> Any:
        psycopg_loader: Any = adapters.get_loader(TIMESTAMPTZ, Format.TEXT)
        return psycopg_loader(oid, context)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        if "context" in params:  # psycopg 3: Django's shared adapters for this time zone
            params["context"] = adapters_with_fast_loader(params["context"], self.timezone)
        return params
