"""Reads of the waitlist. Every query of entries and offers starts at the access helpers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connections, models, router
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, Role, User
from core.db import is_postgres
from waitlist.errors import EntryNotFound, OfferNotFound
from waitlist.models import WaitlistEntry, WaitlistOffer

Offer = WaitlistOffer.Status


def _role(user: User) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    return user.role


def entries_visible_to(user: User) -> QuerySet[WaitlistEntry]:
    """THE access rule for entries: patients see their own, clinicians those waiting for
    them, staff all. No joins, so services can lock rows straight from it."""
    role = _role(user)
    if role == Role.STAFF:
        return WaitlistEntry.objects.all()
    if role in CLINICIAN_ROLES:
        return WaitlistEntry.objects.filter(clinician_id=user.pk)
    if role == Role.PATIENT:
        return WaitlistEntry.objects.filter(patient_id=user.pk)
    return WaitlistEntry.objects.none()


def offers_visible_to(user: User) -> QuerySet[WaitlistOffer]:
    """The same rule for offers: the offered patient, the slot's clinician, staff."""
    role = _role(user)
    if role == Role.STAFF:
        return WaitlistOffer.objects.all()
    if role in CLINICIAN_ROLES:
        return WaitlistOffer.objects.filter(clinician_id=user.pk)
    if role == Role.PATIENT:
        return WaitlistOffer.objects.filter(patient_id=user.pk)
    return WaitlistOffer.objects.none()


def entry_get_for(*, user: User, entry_id: int) -> WaitlistEntry:
    entry = entries_visible_to(user).filter(pk=entry_id).first()
    if entry is None:
        raise EntryNotFound()
    return entry


def offer_get_for(*, user: User, offer_id: int) -> WaitlistOffer:
    offer = offers_visible_to(user).select_related("slot").filter(pk=offer_id).first()
    if offer is None:
        raise OfferNotFound()
    return offer


def entries_list(*, user: User, status: str | None = None) -> QuerySet[WaitlistEntry]:
    """The entries ``user`` may see, in offer order (priority, then joined first)."""
    entries = entries_visible_to(user)
    if status:
        entries = entries.filter(status=status)
    return entries.order_by("clinician_id", "-priority", "created_at", "pk")


def offers_list(*, user: User, status: str | None = None) -> QuerySet[WaitlistOffer]:
    """The offers ``user`` may see, newest first, with their slot."""
    offers = offers_visible_to(user).select_related("slot")
    if status:
        offers = offers.filter(status=status)
    return offers.order_by("-created_at", "-pk")


def offer_status_at(offer: WaitlistOffer, now: datetime | None = None) -> str:
    """The offer's status as a reader should see it: an ``offered`` row past its deadline
    is ``expired`` already (the sweep or the next touch writes it)."""
    if offer.status == Offer.OFFERED and offer.expires_at <= (now or timezone.now()):
        return str(Offer.EXPIRED)
    return str(offer.status)


def waitlist_counts(clinician: User) -> tuple[int, int]:
    """(active entries waiting for ``clinician``, live offers of their slots): the
    dashboard's two figures. Two indexed counts (partial indexes on the active rows)."""
    active = WaitlistEntry.objects.filter(
        clinician_id=clinician.pk, status=WaitlistEntry.Status.ACTIVE
    ).count()
    live = WaitlistOffer.objects.filter(
        clinician_id=clinician.pk, status=Offer.OFFERED, expires_at__gt=timezone.now()
    ).count()
    return active, live


def clinician_has_waiting(clinician_id: int) -> bool:
    """Whether anyone waits for ``clinician_id``: the one indexed EXISTS every trigger
    (a cancellation, a reschedule, new availability) costs when nobody does."""
    return WaitlistEntry.objects.filter(
        clinician_id=clinician_id, status=WaitlistEntry.Status.ACTIVE
    ).exists()


def _patient_active_entry(patient_id: int) -> QuerySet[Any, Any]:
    return WaitlistEntry.objects.filter(
        patient_id=patient_id, status=WaitlistEntry.Status.ACTIVE
    ).values_list("id")


def patient_waits(patient_id: int) -> bool:
    """Whether ``patient_id`` waits for anyone: the one read every booking pays (compiled
    once per process, see ``first_row``), before anything heavier looks at the entry."""
    return first_row(_patient_active_entry, patient_id, model=WaitlistEntry) is not None


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
    sql, params, at = _compiled(build, alias)
    bound = [*params[:at], value, *params[at + 1 :]]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, bound)
        found: tuple[Any, ...] | None = cursor.fetchone()
    return found


_SENTINEL = -987_654_323  # never an id; found again among the compiled parameters


@functools.cache
def _compiled(
    build: Callable[[int], QuerySet[Any, Any]], alias: str
) -> tuple[str, tuple[Any, ...], int]:
    sql, params = build(_SENTINEL).using(alias).query.sql_with_params()
    places = [n for n, param in enumerate(params) if type(param) is int and param == _SENTINEL]
    if len(places) != 1:
        raise RuntimeError(f"expected the value once among the parameters of {sql}")
    return str(sql), tuple(params), places[0]


Values = Mapping[str, Any]


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
    first, second = _stand_ins(kinds, 0), _stand_ins(kinds, 1)
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


_BASE_TIME = datetime(2, 1, 1, tzinfo=UTC)


def _stand_ins(kinds: tuple[tuple[str, type], ...], round_: int) -> dict[str, Any]:
    """A value of each kind told apart from any constant: negative ids, year-2 dates and
    times, text starting with a control character."""
    stand_ins: dict[str, Any] = {}
    for number, (name, kind) in enumerate(kinds, start=1):
        tag = 2 * number + round_
        if kind is int:
            stand_ins[name] = -2_000_000_000 + tag
        elif kind is str:
            stand_ins[name] = f"\x1fstand-in {tag}"
        elif kind is datetime:
            stand_ins[name] = _BASE_TIME + timedelta(seconds=tag)
        elif kind is date:
            stand_ins[name] = _BASE_TIME.date() + timedelta(days=tag)
        else:
            raise TypeError(f"{name}: no stand-in for {kind.__name__}")
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
