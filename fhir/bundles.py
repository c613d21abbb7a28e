"""The searchset Bundle of one page of a search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fhir.outcomes import operation_outcome, outcome_issue
from fhir.search import COUNT, CURSOR, Criteria, Page, link_url


def searchset(
    *,
    page: Page,
    criteria: Criteria,
    count: int,
    cursor: str | None,
    type_url: str,
    render: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """``type_url`` is the absolute URL of the resource type (``…/fhir/R4/Slot``)."""
    asked: list[tuple[str, str]] = [*criteria.used, (COUNT, str(count))]
    links = [{"relation": "self", "url": link_url(type_url, _with_cursor(asked, cursor))}]
    if page.next_cursor:
        links.append(
            {"relation": "next", "url": link_url(type_url, _with_cursor(asked, page.next_cursor))}
        )
    entries = [_entry(render(row), type_url) for row in page.rows]
    if criteria.ignored:
        entries.append(_ignored_warning(criteria.ignored))
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links,
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def _with_cursor(pairs: Sequence[tuple[str, str]], cursor: str | None) -> list[tuple[str, str]]:
    return [*pairs, (CURSOR, cursor)] if cursor else list(pairs)


def _entry(resource: dict[str, Any], type_url: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{type_url}/{resource['id']}",
        "resource": resource,
        "search": {"mode": "match"},
    }


def _ignored_warning(names: list[str]) -> dict[str, Any]:
    # The names are the client's text: printable, short, and not too many of them.
    shown = sorted({"".join(c for c in name[:64] if c.isprintable()) for name in names})[:20]
    issue = outcome_issue(
        severity="warning",
        code="not-supported",
        text="Unknown search parameters were ignored: " + ", ".join(map(repr, shown)) + ".",
        carebook_code="search_parameter_ignored",
    )
    return {"resource": operation_outcome(issue), "search": {"mode": "outcome"}}
