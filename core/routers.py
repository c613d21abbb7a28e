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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from rest_framework.request import Request
from rest_framework.response import Response

REPLICA_DB_ALIAS = "replica"

_replica_reads: ContextVar[bool] = ContextVar("carebook_replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA_DB_ALIAS in settings.DATABASES


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
    if not _replica_reads.get() or not replica_configured():
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
        # Explicit: an object read from the replica is still saved to the primary.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # Both aliases hold the same rows.
        databases = {obj1._state.db or DEFAULT_DB_ALIAS, obj2._state.db or DEFAULT_DB_ALIAS}
        return True if databases <= {DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS} else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # The standby receives the schema by replication; never migrate it directly.
        return False if db == REPLICA_DB_ALIAS else None


class ReplicaListMixin:
    """For a DRF list view whose GET is read-only: the page and its count come from the
    replica when one is configured. Put it before ``generics.ListAPIView`` in the bases."""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with read_replica():
            return super().list(request, *args, **kwargs)  # type: ignore[misc]
