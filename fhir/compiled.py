"""A search read through ``core.sql``'s compiled statements (issue #17: the FHIR Slot
search may cost at most 1.5x the REST availability read, which reads this way).

A search's conditions are ``Q`` trees built from the request. ``template_of`` splits one
into its shape (the tree with each request value replaced by a name) and the values, so
that ``core.sql.CompiledRows`` compiles the statement once per shape and process and
only rebinds the values afterwards, as it does for the REST lists.

Which leaf values are the request's (bound) and which the code's (part of the shape):

* times and text compared as they are (``exact``, ``gt``, ``gte``, ``lt``, ``lte``) are
  bound (a date window, a status code);
* an integer is bound on a key (``pk``, ``id``, ``…_id``: a reference), and a constant
  elsewhere: ``seats_taken = 0`` (``free``) is the meaning of a code, and
  ``core.sql`` proves a statement with negative stand-ins, for which a
  ``PositiveSmallIntegerField`` lookup gives an empty query;
* anything else (``True`` of ``isnull``, the empty list of ``NOTHING``, a pattern) is a
  constant; ``core.sql`` bounds the shapes it keeps, past which the ORM runs them.

The rows come back as plain dicts of the model's columns, rendered without model
instances.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from typing import Any, cast

from django.db.models import Model, Q, QuerySet
from django.http import QueryDict

from core.sql import CompiledRows, ListQuery, Values
from fhir.search import CURSOR, Page, after_cursor, count_from, cursor_of

Searchable = Callable[[QuerySet[Any]], QuerySet[Any]]
_VALUE, _CONSTANT, _TREE = "value", "constant", "tree"


def template_of(condition: Q, values: dict[str, Any]) -> Hashable:
    """``condition``'s shape; its request values are added to ``values`` by name."""
    children: list[Hashable] = []
    for child in condition.children:
        if isinstance(child, Q):
            children.append(template_of(child, values))
            continue
        lookup, value = cast("tuple[str, Any]", child)
        if _is_request_value(lookup, value):
            name = f"fhir{len(values)}"
            values[name] = value
            children.append((_VALUE, lookup, name))
        else:
            children.append((_CONSTANT, lookup, _hashable(value)))
    return (_TREE, condition.connector, condition.negated, tuple(children))


# Lookups that send their value as it is (a pattern lookup such as ``istartswith``
# sends it changed, so core.sql could not find its stand-in there).
_BOUND_LOOKUPS = frozenset({"exact", "gt", "gte", "lt", "lte"})


def _is_request_value(lookup: str, value: Any) -> bool:
    column, _, comparison = lookup.partition("__")
    if isinstance(value, bool) or (comparison or "exact") not in _BOUND_LOOKUPS:
        return False
    if isinstance(value, datetime | str):
        return True
    if isinstance(value, int):
        return column in ("pk", "id") or column.endswith("_id")
    return False


def _hashable(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


def condition_from(template: Any, values: Values) -> Q:
    """The ``Q`` a shape and its values stand for (``template_of`` the other way)."""
    _, connector, negated, children = template
    made: list[Any] = []
    for child in children:
        if child[0] == _TREE:
            made.append(condition_from(child, values))
        elif child[0] == _VALUE:
            made.append((child[1], values[child[2]]))
        else:
            made.append((child[1], child[2]))
    return Q(*made, _connector=connector, _negated=negated)


def _matches(shape: Hashable, values: Values) -> QuerySet[Any]:
    """``core.sql``'s builder: the visible rows (the domain's own list builder), the
    searchable ones among them, then the search's condition; ordered by the builder."""
    role, build, searchable, template = cast("tuple[Hashable, Any, Searchable, Any]", shape)
    return searchable(build(role, values)).filter(condition_from(template, values))


def _list_query(
    visible: ListQuery, searchable: Searchable, condition: Q, model: type[Model]
) -> ListQuery:
    values = dict(visible.values)
    template = template_of(condition, values)
    return ListQuery(model, _matches, (visible.shape, visible.build, searchable, template), values)


# The search shapes (with page size and first or later page) this process reads
# compiled. A client chooses its shape (parameters, alternatives, _count), so past this
# bound a new shape runs through the ORM instead: searches cannot fill core.sql's shared
# cache (core.sql.MAX_CAPTURED), which the REST lists use too.
MAX_SHAPES = 200
_shapes: set[Hashable] = set()


def _within_bound(shape: Hashable) -> bool:
    if shape in _shapes:
        return True
    if len(_shapes) >= MAX_SHAPES:
        return False
    _shapes.add(shape)
    return True


def compiled_page(
    *,
    visible: ListQuery,
    searchable: Searchable,
    conditions: Sequence[Q],
    query: QueryDict,
    order: Sequence[str],
    columns: Sequence[str],
) -> Page | None:
    """``fhir.search.page_of`` for a search whose visible rows ``visible`` builds (ordered
    by ``order``, as the domain's list is): the same rows and total, as dicts of
    ``columns``. A first page carries its total; a later page counts without its cursor.
    None for a new shape past ``MAX_SHAPES``: the caller reads it through the ORM."""
    count, cursor = count_from(query), query.get(CURSOR)
    condition = Q(*conditions)
    model = visible.model
    matches = _list_query(visible, searchable, condition, model)
    if not _within_bound((matches.key(), count, bool(cursor))):
        return None
    shown = matches
    if cursor:
        shown = _list_query(visible, searchable, condition & after_cursor(cursor, order), model)
    rows = CompiledRows(shown, columns)
    found = [dict(zip(columns, row, strict=True)) for row in rows[0 : count + 1]] if count else []
    more = len(found) > count
    found = found[:count]
    if found and not cursor:
        total = int(rows.total or 0)
    elif count and not cursor:
        total = 0  # an empty first page
    else:
        total = CompiledRows(matches, columns).count()
    next_cursor = cursor_of([found[-1][name] for name in order]) if more and found else None
    return Page(rows=found, total=total, next_cursor=next_cursor)
