"""Statements the ORM would write, compiled once per process, for the hottest paths.

Building and compiling a query through the ORM cost ~0.3-0.5 ms of CPU, more than the
database's own work, on statements every request or booking runs (the JWT user, the
booking's slot lock, its audit row and outbox event). ``insert_row`` sends the INSERT
``save`` would, built once from the model's metadata; ``one_row`` runs the SQL the ORM
compiled once for a ``values_list`` queryset of one parameter. Every value is a bound
parameter. PostgreSQL only: elsewhere (SQLite stores times as text, which the ORM's
converters turn back into datetimes) callers use the ORM.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models, transaction

_CASTS: dict[type[models.Field[object, object]], str] = {
    models.JSONField: "::jsonb",
    models.GenericIPAddressField: "::inet",
}


def _cast(field: models.Field[object, object]) -> str:
    return next((cast for kind, cast in _CASTS.items() if isinstance(field, kind)), "")


@functools.cache
def _insert_sql(model: type[models.Model], fields: tuple[str, ...], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    names = ", ".join(quote(str(getattr(field, "column", ""))) for field in columns)
    values = ", ".join(f"%s{_cast(field)}" for field in columns)  # type: ignore[arg-type]
    returning = quote(str(getattr(meta.pk, "column", "id")))
    # Only model metadata goes into the text; every value is a bound parameter.
    return f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({values}) RETURNING {returning}"  # noqa: S608


def insert_row(instance: models.Model, fields: Sequence[str]) -> None:
    """INSERT ``instance`` (its ``fields``, by attribute name) as ``save`` would; the
    database's primary key comes back into it. JSON fields must hold plain JSON values."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        instance.save(force_insert=True)
        return
    meta = instance._meta
    values = []
    for name in fields:
        field = meta.get_field(name)
        # pre_save as save() calls it: auto_now(_add) times are set, others read.
        value = field.pre_save(instance, True) if isinstance(field, models.Field) else None
        if isinstance(field, models.JSONField):
            value = json.dumps(value)
        values.append(value)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(type(instance), tuple(fields), connection.alias), values)
        (instance.pk,) = cursor.fetchone()
    instance._state.adding = False
    instance._state.db = connection.alias


def one_row(
    build: Callable[[Any], models.QuerySet[Any, Any]], value: Any, *, alias: str
) -> tuple[Any, ...] | None:
    """The first row of ``build(value)`` (a ``values_list`` queryset taking ``value`` as
    its only parameter), its SQL compiled once per ``build`` and database alias."""
    with connections[alias].cursor() as cursor:
        cursor.execute(_compiled(build, alias), [value])
        row: tuple[Any, ...] | None = cursor.fetchone()
    return row


@functools.cache
def _compiled(build: Callable[[Any], models.QuerySet[Any, Any]], alias: str) -> str:
    sentinel = -987_654_321  # never an id; found again among the compiled parameters
    sql, params = build(sentinel).using(alias).query.sql_with_params()
    if list(params) != [sentinel]:
        raise RuntimeError(f"expected one parameter, the value, in {sql}")
    return str(sql)
