"""Django's PostgreSQL backend with a faster reader of ``timestamptz`` values.

Django reads every ``timestamptz`` through psycopg's pure-Python parser (its loader
subclasses psycopg's Python class, so the C one never runs); a 50-row agenda page has
300 of them and spent a millisecond there. PostgreSQL writes them in the session time
zone Django sets (UTC) as ``YYYY-MM-DD HH:MM:SS[.ffffff]+00``, which
``datetime.fromisoformat`` reads in C. Anything else (another session zone, BC dates,
``infinity``, years past 9999) goes to Django's own loader, unchanged.

Selected by ``config/settings.py`` as ``ENGINE = "core.postgresql"`` for PostgreSQL URLs.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from django.db.backends.postgresql import base
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg import adapt

UTC_SUFFIX = "+00"


class FastTzLoader(BaseTzLoader):
    def load(self, data: Any) -> datetime.datetime:
        text = bytes(data).decode("ascii", "replace")
        if text.endswith(UTC_SUFFIX):
            try:
                moment = datetime.datetime.fromisoformat(text)  # tzinfo: datetime.UTC
            except ValueError:
                pass
            else:
                # BaseTzLoader's rule: the wall clock of the session zone, given its tzinfo.
                if self.timezone is datetime.UTC:
                    return moment
                return moment.replace(tzinfo=self.timezone)
        result: datetime.datetime = super().load(data)
        return result


@lru_cache
def adapters_with_fast_loader(template: adapt.AdaptersMap, zone: Any) -> adapt.AdaptersMap:
    adapters = adapt.AdaptersMap(template)
    loader = type("FastSpecificTzLoader", (FastTzLoader,), {"timezone": zone})
    adapters.register_loader("timestamptz", loader)
    return adapters


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        if "context" in params:  # psycopg 3: Django's shared adapters for this time zone
            params["context"] = adapters_with_fast_loader(params["context"], self.timezone)
        return params
