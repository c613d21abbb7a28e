"""Read-replica routing: only reads that ask for it go to the replica.

``DATABASE_REPLICA_URL`` adds a database alias ``replica`` (a streaming-replication
standby of ``default``). Nothing reads from it unless code opts in, because a standby
lags the primary (usually milliseconds, seconds under load): a read that must see a
write just made (read-your-writes) stays on ``default``.

A read goes to the replica only when all of these hold:

* the alias ``replica`` is configured;
* it runs inside ``read_replica()`` (a context manager and decorator that sets a
  contextvar, so it follows the request's thread or task and nothing else);
* it is a read: ``select_for_update()``, ``update()``, ``delete()`` and ``save()`` ask
  Django for the *write* database, which is always ``default``;
* ``default`` is not inside ``transaction.atomic``: a transaction reads its own snapshot
  on the primary, and a service never mixes in stale rows.

List endpoints whose GET is read-only opt in with ``ReplicaListMixin``; the queryset
their selector builds is lazy and is evaluated in ``list()``, which the mixin wraps.

Read-your-writes, and what a write does to the rest of its request
------------------------------------------------------------------
``ReplicaPinMiddleware`` keeps two promises while the router is on:

* **In a request, nothing after a write reads the replica.** A POST, PUT, PATCH or DELETE
  reads only the primary from its first query; a GET that writes through the ORM (the
  router's ``db_for_write``) reads the primary from that write on.
* **A user who wrote reads the primary for ``REPLICA_PIN_SECONDS`` afterwards** (10 s by
  default). After such a request the middleware sets a key per user in the shared cache
  (Redis in production, so every api process sees it) that expires by itself; a list
  checks it before it opts in. A patient who has just booked sees the booking in the
  next ``GET /appointments/`` whatever the standby's lag.

We pin by time rather than compare WAL positions (the primary's ``pg_current_wal_lsn()``
after the write against the standby's ``pg_last_wal_replay_lsn()`` before the read)
because the pin costs one cache write per writing request and one cache read per list,
and no query on either database; the LSN check would cost a query on each. Its limit:
a standby more than ``REPLICA_PIN_SECONDS`` behind shows the writer their own stale list
after the window (watch the lag; docs/deployment.md). A pin is per user: other users may
read the replica's older view meanwhile, which is the lag every replica has.

When the replica fails
----------------------
A list whose read on the replica raises a connection or query error (the standby stopped,
unreachable, or cancelled the query for its replay) is read again from the primary, in the
same request: the client never sees a 5xx for the replica. When the pin or the breaker
cannot be read (Redis down), lists read the primary. A circuit breaker
(``core.resilience.CircuitBreaker`` named ``db-replica``, state in Redis and shared by
every process) opens at ``REPLICA_BREAKER_THRESHOLD`` consecutive failures; while open, lists
read the primary without trying the replica. After ``REPLICA_BREAKER_COOLDOWN_SECONDS`` one
request probes the replica again (half-open) and closes the breaker when it succeeds. The
replica's ``connect_timeout`` (``REPLICA_CONNECT_TIMEOUT_SECONDS``) bounds what a probe can
cost when the standby's host does not answer at all.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.response import Response

from core.metrics import BreakerStateCollector, register_scrape_collector
from core.resilience import BreakerState, CircuitBreaker

logger = logging.getLogger(__name__)

REPLICA_DB_ALIAS = "replica"
ROUTER_PATH = "core.routers.ReadReplicaRouter"
BREAKER_NAME = "db-replica"
PIN_KEY_PREFIX = "carebook:replica-pin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_replica_reads: ContextVar[bool] = ContextVar("carebook_replica_reads", default=False)


@dataclass
class _RequestWrites:
    """Whether the current request has written (or may write: an unsafe method)."""

    wrote: bool


_request_writes: ContextVar[_RequestWrites | None] = ContextVar(
    "carebook_request_writes", default=None
)


def replica_configured() -> bool:
    return REPLICA_DB_ALIAS in settings.DATABASES


def replica_routing_on() -> bool:
    """The alias exists and the router is installed (the test settings leave it out)."""
    return replica_configured() and ROUTER_PATH in settings.DATABASE_ROUTERS


def request_wrote() -> bool:
    state = _request_writes.get()
    return state is not None and state.wrote


@contextmanager
def read_replica() -> Iterator[None]:
    """Reads inside this block may be served by the replica (see the module docstring)."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def read_alias() -> str:
    """The alias a read made here and now would use."""
    if not _replica_reads.get() or not replica_configured() or request_wrote():
        return DEFAULT_DB_ALIAS
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA_DB_ALIAS


class ReadReplicaRouter:
    """``DATABASE_ROUTERS`` entry: writes and locked reads to ``default``, opted-in reads to
    the replica. Outside ``read_replica()`` it defers to Django (``default``, or the
    database an instance was loaded from, for its related objects)."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        alias = read_alias()
        return alias if alias == REPLICA_DB_ALIAS else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        # Explicit: an object read from the replica is still saved to the primary. The
        # rest of the request reads the primary too (ReplicaPinMiddleware).
        state = _request_writes.get()
        if state is not None:
            state.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # Both aliases hold the same rows.
        databases = {obj1._state.db or DEFAULT_DB_ALIAS, obj2._state.db or DEFAULT_DB_ALIAS}
        return True if databases <= {DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS} else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # The standby receives the schema by replication; never migrate it directly.
        return False if db == REPLICA_DB_ALIAS else None


def replica_breaker() -> CircuitBreaker:
    return CircuitBreaker(
        BREAKER_NAME,
        threshold=settings.REPLICA_BREAKER_THRESHOLD,
        cooldown=settings.REPLICA_BREAKER_COOLDOWN_SECONDS,
        probe_timeout=max(5.0, 2 * settings.REPLICA_CONNECT_TIMEOUT_SECONDS),
    )


def _replica_breakers() -> Iterator[tuple[tuple[str, ...], CircuitBreaker]]:
    if replica_configured():
        yield (), replica_breaker()


REPLICA_CIRCUIT_STATE = BreakerStateCollector(
    "replica_circuit_state",
    "The read replica's circuit breaker: 0 closed, 1 half-open, 2 open (lists on the primary).",
    _replica_breakers,
)
register_scrape_collector(REPLICA_CIRCUIT_STATE)


def _pin_key(user_id: Any) -> str:
    return f"{PIN_KEY_PREFIX}:{user_id}"


def user_pinned(user: Any) -> bool:
    """Whether ``user`` wrote within the last ``REPLICA_PIN_SECONDS`` (reads the primary)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return cache.get(_pin_key(user.pk)) is not None


def user_pin(user: Any) -> None:
    if getattr(user, "is_authenticated", False) and settings.REPLICA_PIN_SECONDS > 0:
        cache.set(_pin_key(user.pk), 1, timeout=settings.REPLICA_PIN_SECONDS)


class ReplicaPinMiddleware:
    """Reads after a write go to the primary: for the rest of the request, and for the
    writer's next ``REPLICA_PIN_SECONDS`` (the module docstring). Does nothing unless a
    replica is configured and routed to. Place it after the authentication middleware;
    it reads ``request.user`` after the view, when DRF has set it for a JWT too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_routing_on():
            return self.get_response(request)
        state = _RequestWrites(wrote=request.method not in SAFE_METHODS)
        token = _request_writes.set(state)
        try:
            response = self.get_response(request)
        finally:
            _request_writes.reset(token)
        if state.wrote:
            try:
                user_pin(getattr(request, "user", None))
            except RedisError as exc:  # the write succeeded: its answer must not become a 500
                logger.warning("could not pin the writer to the primary: %s", exc)
        return response


def _replica_drop_connection() -> None:
    with contextlib.suppress(DatabaseError):
        connections[REPLICA_DB_ALIAS].close()


class ReplicaListMixin:
    """For a DRF list view whose GET is read-only: the page and its count come from the
    replica when one is configured, the caller has not just written, and the replica's
    breaker is not open; a replica that fails is replaced by the primary within the same
    request. Put it before ``generics.ListAPIView`` in the bases."""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        read = super().list  # type: ignore[misc]
        if not replica_routing_on() or request_wrote():
            return read(request, *args, **kwargs)
        try:
            if user_pinned(request.user):
                return read(request, *args, **kwargs)
            breaker = replica_breaker()
            decision = breaker.allow()
        except RedisError as exc:  # the pin or the breaker cannot be read: play safe
            logger.warning("replica routing state unreadable, reading the primary: %s", exc)
            return read(request, *args, **kwargs)
        if not decision.allowed:
            return read(request, *args, **kwargs)
        try:
            # Connect first: a standby that is down fails here, and a new connection's
            # set-up queries (type look-ups of django.contrib.postgres, once per process)
            # run before the list, not inside core.sql's capture of its first statement.
            connections[REPLICA_DB_ALIAS].ensure_connection()
            with read_replica():
                response: Response = read(request, *args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            _replica_drop_connection()
            state = breaker.failure()
            logger.warning("replica read failed, reading the primary (breaker %s): %s", state, exc)
            return read(request, *args, **kwargs)
        if decision.state != BreakerState.CLOSED:
            breaker.success()
        return response
