"""Statements the ORM would send, compiled once per process, for the hottest paths.

* ``insert_row`` / ``update_row``: the INSERT and UPDATE ``save()`` would send, built
  once per model and fields. They skip ``save()`` and so its signals: a model with a
  ``pre_save`` or ``post_save`` receiver is refused (``ImproperlyConfigured``).
* ``one_row``: the first row of a one-parameter ``values_list`` queryset, its SQL
  compiled once; ``first_row`` the same where other constants stand in the statement,
  and ``rows_of`` a few rows of a ``values()`` queryset whose variables are named values
  (the waitlist's offer path).
* ``statements_together``: a block whose ``update_row`` / ``insert_row(later=True)``
  writes go in one statement with its next ``insert_row`` (a booking's writes).
* ``ListQuery`` / ``CompiledRows``: list pages, the ORM's COUNT and SELECT captured once
  per shape and rebound to each request's values (``core.lists`` declares the views).

Every value is a bound parameter. On PostgreSQL only (``core.db.is_postgres``): on
SQLite, ``make run``'s demo database, each falls back to the ORM call it stands for
(``save``, ``.first()``, the queryset), because SQLite stores times as text that only the
ORM's converters turn back into datetimes. The same code runs on both; the tests pin
that both give the ORM's results. Which paths use this module and what each piece buys:
docs/performance.md ("What the performance layer buys").
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, router, transaction
from django.db.models import Count, QuerySet, Window
from django.db.models.signals import ModelSignal, post_save, pre_save

from core.db import is_postgres

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


def insert_row(instance: models.Model, fields: Sequence[str], *, later: bool = False) -> None:
    """INSERT ``instance`` (its ``fields``, by attribute name) as ``save`` would; the
    database's primary key comes back into it. JSON fields must hold plain JSON values.
    A model with save signal receivers is refused: they would not run.

    Inside ``statements_together``: the writes it holds go in the same statement; with
    ``later`` the row waits there too, and its primary key is set when it is sent."""
    _refuse_save_receivers(type(instance), "insert_row")
    connection = transaction.get_connection()
    if not is_postgres(connection):
        instance.save(force_insert=True)
        return
    values = [_saved_value(instance, name, adding=True) for name in fields]
    sql = _insert_sql(type(instance), tuple(fields), connection.alias)
    write = _Write(sql, values, instance, "insert")
    together: _Together | None = getattr(connection, _TOGETHER, None)
    if together is not None:
        together.add(write, send=not later)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        write.done(cursor.fetchone()[0], connection.alias)


@functools.cache
def _update_sql(model: type[models.Model], fields: tuple[str, ...], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    sets = ", ".join(
        f"{quote(str(getattr(field, 'column', '')))} = %s{_cast(field)}"  # type: ignore[arg-type]
        for field in columns
    )
    key = quote(str(getattr(meta.pk, "column", "id")))
    return f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {key} = %s"  # noqa: S608


def update_row(instance: models.Model, fields: Sequence[str]) -> None:
    """``instance.save(update_fields=fields)`` as one UPDATE built once per model and
    fields (auto_now times are set as save sets them). The row must exist. A model with
    save signal receivers is refused: they would not run.

    Inside ``statements_together`` it waits for the block's next statement (a missing
    row raises there)."""
    _refuse_save_receivers(type(instance), "update_row")
    connection = transaction.get_connection()
    if not is_postgres(connection):
        instance.save(update_fields=fields)
        return
    values = [_saved_value(instance, name, adding=False) for name in fields]
    sql = _update_sql(type(instance), tuple(fields), connection.alias)
    write = _Write(sql, [*values, instance.pk], instance, "update")
    together: _Together | None = getattr(connection, _TOGETHER, None)
    if together is not None:
        together.add(write, send=False)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, write.params)
        write.done(cursor.rowcount, connection.alias)


# --- several writes in one statement --------------------------------------------------


@dataclass
class _Write:
    """One INSERT … RETURNING the key, or one UPDATE of one row by its key."""

    sql: str
    params: list[Any]
    instance: models.Model
    kind: str  # "insert" or "update"

    def done(self, result: Any, alias: str) -> None:
        """``result``: the new key of an insert, the rows an update changed."""
        if self.kind == "update":
            if result != 1:
                model = type(self.instance).__name__
                raise DatabaseError(f"update_row: no {model} {self.instance.pk}")
            return
        self.instance.pk = result
        self.instance._state.adding = False
        self.instance._state.db = alias


# The open block's writes, on the connection (Django's connections are per thread).
_TOGETHER = "carebook_statements_together"


class _Together:
    """The writes a ``statements_together`` block holds, sent as one statement."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.held: list[_Write] = []

    def add(self, write: _Write, *, send: bool) -> None:
        self.held.append(write)
        if send:
            self.send()

    def send(self) -> None:
        held, self.held = self.held, []
        if not held:
            return
        with connections[self.alias].cursor() as cursor:
            if len(held) == 1:  # the plain statement
                cursor.execute(held[0].sql, held[0].params)
                row = [cursor.fetchone()[0] if held[0].kind == "insert" else cursor.rowcount]
            else:
                cursor.execute(_together_sql(tuple(w.sql for w in held)), _params(held))
                row = list(cursor.fetchone())
        for write, result in zip(held, row, strict=True):
            write.done(result, self.alias)

    def send_first(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """An execute wrapper: any other statement of the block sends the held writes
        first, so it sees them (a read, a savepoint, a lock)."""
        self.send()
        return execute(sql, params, many, context)


def _params(held: list[_Write]) -> list[Any]:
    return [param for write in held for param in write.params]


@functools.cache
def _together_sql(statements: tuple[str, ...]) -> str:
    """``WITH w0 AS (…), w1 AS (…) SELECT (SELECT … FROM w0), …``: each INSERT gives its
    key, each UPDATE how many rows it changed (``RETURNING 1``, counted)."""
    parts, results = [], []
    for number, sql in enumerate(statements):
        name = f"w{number}"
        if sql.startswith("UPDATE"):
            parts.append(f"{name} AS ({sql} RETURNING 1)")
            results.append(f"(SELECT count(*) FROM {name})")  # noqa: S608 - names only
        else:
            key = sql.rsplit(" RETURNING ", 1)[1]
            parts.append(f"{name} AS ({sql})")
            results.append(f"(SELECT {key} FROM {name})")  # noqa: S608 - names only
    return f"WITH {', '.join(parts)} SELECT {', '.join(results)}"


@contextmanager
def statements_together(alias: str | None = None) -> Iterator[None]:
    """Send the block's writes in as few statements as its reads allow (issue #18).

    Inside it, ``update_row`` and ``insert_row(later=True)`` hold their statement; the next
    ``insert_row`` sends the held ones with its own as one statement (data-modifying
    ``WITH`` parts, each executed once, in the same transaction), and so does the end of
    the block. Any other statement sends what is held first, so every read, lock or
    savepoint of the block sees every earlier write: what the block does is what it would
    do without it, in fewer round trips. Must run inside a transaction; nested, the outer
    block holds. PostgreSQL only (elsewhere it does nothing)."""
    connection = transaction.get_connection(alias or DEFAULT_DB_ALIAS)
    if getattr(connection, _TOGETHER, None) is not None or not is_postgres(connection):
        yield
        return
    if not connection.in_atomic_block:
        raise DatabaseError("statements_together must run inside a transaction")
    together = _Together(connection.alias)
    setattr(connection, _TOGETHER, together)
    try:
        with connection.execute_wrapper(together.send_first):
            yield
    except BaseException:
        setattr(connection, _TOGETHER, None)
        _send_unless_aborted(together)
        raise
    setattr(connection, _TOGETHER, None)
    together.send()


def _send_unless_aborted(together: _Together) -> None:
    """After an error inside the block: send what it held, as the block would have sent
    it already, unless the transaction can take no more (it will roll back anyway)."""
    with suppress(DatabaseError):
        together.send()


_SAVE_SIGNALS: tuple[tuple[str, ModelSignal], ...] = (
    ("pre_save", pre_save),
    ("post_save", post_save),
)


def _refuse_save_receivers(model: type[models.Model], caller: str) -> None:
    """Checked on every call (a dictionary lookup per signal): a receiver connected after
    the first call is refused too."""
    connected = [name for name, signal in _SAVE_SIGNALS if signal.has_listeners(model)]
    if connected:
        raise ImproperlyConfigured(
            f"{caller}: {model.__name__} has {' and '.join(connected)} receivers, which "
            f"{caller} would skip (it sends SQL without save()); save() it instead"
        )


def _saved_value(instance: models.Model, name: str, *, adding: bool) -> Any:
    field = instance._meta.get_field(name)
    # pre_save as save() calls it: auto_now(_add) times are set, others read.
    value = field.pre_save(instance, adding) if isinstance(field, models.Field) else None
    return json.dumps(value) if isinstance(field, models.JSONField) else value


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


# --- list reads: the ORM's statements captured once per shape, rebound to new values ---

Values = Mapping[str, Any]


@dataclass(frozen=True)
class ListQuery:
    """A list read as the ORM runs it: ``build(shape, values)`` returns the ordered
    queryset of ``model``; ``build`` is a module-level function (it keys a cache).

    ``shape`` holds whatever else decides the statement (the viewer's role, say). Within
    one ``build``, ``shape`` and set of value names, the values must be bound parameters
    only: ``_capture`` checks that by running the statement with two sets of stand-ins.
    """

    model: type[models.Model]
    build: Callable[[Hashable, Values], models.QuerySet[Any, Any]]
    shape: Hashable
    values: Values

    def key(self, *parts: Hashable) -> Hashable:
        # A None value (an IS NULL lookup) is part of the statement, not a parameter.
        names = tuple(sorted((name, value is None) for name, value in self.values.items()))
        return (self.build, self.shape, names, *parts)

    def queryset(self, values: Values | None = None) -> models.QuerySet[Any, Any]:
        return self.build(self.shape, self.values if values is None else values)


# A captured statement: its SQL, and per parameter the name of the value bound there
# (None: a constant of the statement, kept in the third element).
Captured = tuple[str, tuple[str | None, ...], tuple[Any, ...]]
_captured: dict[tuple[Hashable, str], Captured | None] = {}
_TOTAL = "list_total_rows"
# Shapes times pages: a bound, past which (page 900 of some list, say) the ORM runs it.
MAX_CAPTURED = 1000


class CompiledRows:
    """A ``ListQuery`` as a paginator reads it: ``count()`` and pages of row tuples of
    ``columns``. On PostgreSQL these run the COUNT and the SELECT the ORM sent the first
    time this process met the query's shape (and page), rebound to this query's values:
    no queryset is built or compiled per request. Elsewhere they are the ORM's own."""

    ordered = True

    def __init__(self, query: ListQuery, columns: Sequence[str]) -> None:
        self.query = query
        self.columns = tuple(columns)
        self.alias = router.db_for_read(query.model) or DEFAULT_DB_ALIAS
        self.total: int | None = None

    def count(self) -> int:
        if self.total is not None:  # a page read carried it
            return self.total
        query = self.query

        def run(values: Values) -> None:
            query.queryset(values).count()

        statement = self._statement(query.key("count"), run)
        if statement is None:
            return query.queryset().count()
        return int(_fetch(*statement, self.alias)[0][0])

    def __getitem__(self, page: slice) -> list[tuple[Any, ...]]:
        """The rows of ``page``. Each carries the list's length (``COUNT(*) OVER ()``,
        counted before the LIMIT): a full first page needs no COUNT query after it."""
        query, columns, alias = self.query, self.columns, self.alias

        def counted(values: Values) -> models.QuerySet[Any, Any]:
            rows = query.queryset(values).annotate(**{_TOTAL: Window(Count("*"))})
            return rows[page].values_list(*columns, _TOTAL)

        def run(values: Values) -> None:
            rows = counted(values)
            _refuse_converters(rows, alias)
            list(rows)

        statement = self._statement(query.key("page", page.start, page.stop, columns), run)
        rows = list(counted(query.values)) if statement is None else _fetch(*statement, alias)
        if rows:
            self.total = rows[0][-1]
        return [row[:-1] for row in rows]

    def _statement(
        self, key: Hashable, run: Callable[[Values], None]
    ) -> tuple[str, list[Any]] | None:
        """The statement for ``key`` with this query's values bound, or None where the
        ORM should run it: not PostgreSQL, or a shape past the cache's bound (a far page)."""
        if not is_postgres(self.alias):
            return None
        entry = (key, self.alias)
        if entry not in _captured:
            if len(_captured) >= MAX_CAPTURED:
                return None
            _captured[entry] = _capture(run, self.query.values, self.alias)
        captured = _captured[entry]
        if captured is None:  # the ORM sends nothing for this shape (an empty queryset)
            return None
        sql, names, constants = captured
        values = self.query.values
        params = [
            constant if name is None else values[name]
            for name, constant in zip(names, constants, strict=True)
        ]
        return sql, params


def _fetch(sql: str, params: Sequence[Any], alias: str) -> list[tuple[Any, ...]]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _capture(run: Callable[[Values], None], values: Values, alias: str) -> Captured | None:
    """Compile ``run``'s statement twice, with two sets of stand-ins for ``values``, and
    find each stand-in among the parameters the ORM would send. The SQL and every other
    parameter must come out the same both times, and every value be bound somewhere."""
    first, second = _stand_ins(values, 0), _stand_ins(values, 1)
    sent, sent_again = _sent(run, first, alias), _sent(run, second, alias)
    if sent is None or sent_again is None:
        if sent != sent_again:
            raise RuntimeError("a value decides whether the ORM sends a statement")
        return None
    (sql, params), (sql_again, params_again) = sent, sent_again
    names = tuple(_name_of(param, first) for param in params)
    if (
        sql != sql_again
        or len(params) != len(params_again)
        or names != tuple(_name_of(param, second) for param in params_again)
        or any(n is None and a != b for n, a, b in zip(names, params, params_again, strict=True))
        or set(names) - {None} != {name for name, value in values.items() if value is not None}
    ):
        raise RuntimeError(f"a value is not only a parameter of: {sql}")
    constants = tuple(None if name else param for name, param in zip(names, params, strict=True))
    return sql, names, constants


class _Sent(Exception):
    """Not an error: carries the statement out of the ORM before it is executed."""


def _sent(
    run: Callable[[Values], None], values: Values, alias: str
) -> tuple[str, list[Any]] | None:
    """The statement ``run`` sends first, stopped before it reaches the database, or None
    if it sends none. A debug cursor (tests, DEBUG) logs even a stopped statement: that
    entry goes again."""
    connection = connections[alias]
    # Connect first: a new connection's own set-up statements (django.contrib.postgres's
    # type look-ups) must reach the database, not be taken for ``run``'s statement.
    connection.ensure_connection()
    logged = len(connection.queries_log)

    def stop(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raise _Sent(sql, list(params or ()))

    try:
        with connection.execute_wrapper(stop):
            run(values)
    except _Sent as sent:
        sql, params = sent.args
        return sql, params
    finally:
        if len(connection.queries_log) > logged:
            connection.queries_log.pop()
    return None


_BASE_TIME = datetime.datetime(2, 1, 1, tzinfo=datetime.UTC)


def _stand_ins(values: Values, round_: int) -> dict[str, Any]:
    """A value of each one's type, told apart from any constant of a statement: negative
    ids (int32-safe: no lookup turns them into an empty result), times in year 2,
    text starting with a control character."""
    stand_ins: dict[str, Any] = {}
    for number, (name, value) in enumerate(sorted(values.items()), start=1):
        tag = 2 * number + round_
        if value is None:
            stand_ins[name] = None
        elif isinstance(value, bool):
            raise TypeError(f"{name}: no stand-in for {value!r}")
        elif isinstance(value, int):
            stand_ins[name] = -2_000_000_000 + tag
        elif isinstance(value, datetime.datetime):
            stand_ins[name] = _BASE_TIME + datetime.timedelta(seconds=tag)
        elif isinstance(value, str):
            stand_ins[name] = f"\x1fstand-in {tag}"
        else:
            raise TypeError(f"{name}: no stand-in for {type(value).__name__}")
    return stand_ins


def _name_of(param: Any, stand_ins: Values) -> str | None:
    return next(
        (
            name
            for name, value in stand_ins.items()
            if type(value) is type(param) and value == param
        ),
        None,
    )


def _refuse_converters(rows: models.QuerySet[Any, Any], alias: str) -> None:
    """Raw rows equal the ORM's only where no column has a from-database converter (the
    count, last, is an integer either way)."""
    compiler = rows.query.get_compiler(alias)
    compiler.setup_query()
    if compiler.get_converters([column for column, _, _ in compiler.select[:-1]]):
        raise RuntimeError("a column needs a from-database converter; read it with the ORM")


# --- small reads of the hot write paths: one id, or a few values, compiled once ---


def first_row(
    build: Callable[[int], QuerySet[Any, Any]], value: int, *, model: type[models.Model]
) -> tuple[Any, ...] | None:
    """The first row of ``build(value)``: a ``values_list`` queryset of ``model`` whose
    only variable is the id ``value`` (any other parameter a constant of ``build``, a
    module-level function). On PostgreSQL its statement is compiled once per process and
    rebound to ``value``: the offer path's small reads and locks skip the ORM's work per
    call. Its columns must need no from-database converter (ids, text, times).
    Elsewhere the ORM's ``.first()``."""
    alias = router.db_for_write(model)
    if not is_postgres(alias):
        row: tuple[Any, ...] | None = build(value).using(alias).first()
        return row
    sql, params, at = _compiled_first(build, alias)
    bound = [*params[:at], value, *params[at + 1 :]]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, bound)
        found: tuple[Any, ...] | None = cursor.fetchone()
    return found


_FIRST_ROW_SENTINEL = -987_654_323  # never an id; found again among the compiled parameters


@functools.cache
def _compiled_first(
    build: Callable[[int], QuerySet[Any, Any]], alias: str
) -> tuple[str, tuple[Any, ...], int]:
    sql, params = build(_FIRST_ROW_SENTINEL).using(alias).query.sql_with_params()
    places = [
        n for n, param in enumerate(params) if type(param) is int and param == _FIRST_ROW_SENTINEL
    ]
    if len(places) != 1:
        raise RuntimeError(f"expected the value once among the parameters of {sql}")
    return str(sql), tuple(params), places[0]


def rows_of(
    build: Callable[[Values], QuerySet[Any, Any]], values: Values, *, model: type[models.Model]
) -> list[dict[str, Any]]:
    """The rows of ``build(values)`` as dicts: a ``values(name=F(...), ...)`` queryset of
    ``model`` (sliced) whose variables are ``values`` only (ids, text, dates, times; none
    None), any other parameter a constant of ``build`` (a module-level function). On
    PostgreSQL its statement is compiled once per process and set of value names, checked
    by compiling it with two sets of stand-ins (each must come out bound where the other
    was, the SQL and constants the same), then rebound to ``values``: no queryset is
    built per call. The columns come raw (a JSON column as text): the caller converts.
    Elsewhere the ORM's."""
    alias = router.db_for_write(model)
    if not is_postgres(alias):
        return list(build(values).using(alias))
    kinds = tuple(sorted((name, type(value)) for name, value in values.items()))
    sql, names, constants = _compiled_rows(build, kinds, alias)
    params = [
        constant if name is None else values[name]
        for name, constant in zip(names, constants, strict=True)
    ]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@functools.cache
def _compiled_rows(
    build: Callable[[Values], QuerySet[Any, Any]],
    kinds: tuple[tuple[str, type], ...],
    alias: str,
) -> tuple[str, tuple[str | None, ...], tuple[Any, ...]]:
    first, second = _kind_stand_ins(kinds, 0), _kind_stand_ins(kinds, 1)
    sql, params = build(first).using(alias).query.sql_with_params()
    sql_again, params_again = build(second).using(alias).query.sql_with_params()
    names = tuple(_name_of(param, first) for param in params)
    if (
        sql != sql_again
        or len(params) != len(params_again)
        or names != tuple(_name_of(param, second) for param in params_again)
        or any(n is None and a != b for n, a, b in zip(names, params, params_again, strict=True))
        or set(names) - {None} != set(first)
    ):
        raise RuntimeError(f"a value is not only a parameter of: {sql}")
    return (
        str(sql),
        names,
        tuple(None if name else param for name, param in zip(names, params, strict=True)),
    )


def _kind_stand_ins(kinds: tuple[tuple[str, type], ...], round_: int) -> dict[str, Any]:
    """A value of each kind told apart from any constant: negative ids, year-2 dates and
    times, text starting with a control character."""
    stand_ins: dict[str, Any] = {}
    for number, (name, kind) in enumerate(kinds, start=1):
        tag = 2 * number + round_
        if kind is int:
            stand_ins[name] = -2_000_000_000 + tag
        elif kind is str:
            stand_ins[name] = f"\x1fstand-in {tag}"
        elif kind is datetime.datetime:
            stand_ins[name] = _BASE_TIME + datetime.timedelta(seconds=tag)
        elif kind is datetime.date:
            stand_ins[name] = _BASE_TIME.date() + datetime.timedelta(days=tag)
        else:
            raise TypeError(f"{name}: no stand-in for {kind.__name__}")
    return stand_ins
