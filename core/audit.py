"""The one function every service calls to write its audit row (SPEC invariant 5).

``audit_record`` runs inside the caller's transaction: the row commits with the change
or not at all, and a failed audit write aborts the change. Core knows no domain, so
it writes the ``audit`` app's model through the app registry; the audit app seals rows
into its hash chain after commit (``audit.tasks.audit_seal``) and periodically.

The client IP comes from ``ClientIpMiddleware`` through a contextvar, like the request
id in ``core.request_context``.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse

from core.broker import send_task_soon
from core.request_context import current_request_id
from core.serialization import json_safe
from core.sql import insert_row

logger = logging.getLogger(__name__)

SEAL_TASK_NAME = "audit.seal"
# A process asks for a seal run at most this often (the last commit is always followed by
# one): under a booking storm, one publish per commit cost as much as the audit row.
SEAL_REQUEST_WINDOW_SECONDS = 0.25

# Keys whose values never enter the audit trail (dropped, at any depth).
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|authori[sz]ation|credential|private[_-]?key"
    r"|signature|otp|cookie|session",
    re.IGNORECASE,
)

_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "carebook_client_ip", default=None
)

ObjectRef = models.Model | tuple[str, str | int] | None


class AuditOutsideTransaction(RuntimeError):
    """audit_record was called outside a transaction: the row could outlive a rollback."""


def current_client_ip() -> str | None:
    return _client_ip.get()


def set_client_ip(value: str | None) -> contextvars.Token[str | None]:
    return _client_ip.set(value)


def reset_client_ip(token: contextvars.Token[str | None]) -> None:
    _client_ip.reset(token)


class ClientIpMiddleware:
    """Keep the client's address for the audit rows written during the request.

    ``REMOTE_ADDR`` only: a forwarded header is client-controlled unless a trusted proxy
    rewrites it, and the production proxy (gunicorn behind compose) sets REMOTE_ADDR.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = set_client_ip(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            reset_client_ip(token)


def object_ref(obj: ObjectRef) -> tuple[str, str]:
    """``("scheduling.appointment", "42")`` for a model instance or an explicit pair."""
    if obj is None:
        return "", ""
    if isinstance(obj, models.Model):
        return obj._meta.label_lower, str(obj.pk)
    object_type, object_id = obj
    return str(object_type), str(object_id)


def scrub(value: Any) -> Any:
    """JSON-safe copy of ``value`` without secret-looking keys (at any depth)."""
    if isinstance(value, dict):
        return {
            str(key): scrub(item) for key, item in value.items() if not _SECRET_KEY.search(str(key))
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    # Round-trip through JSON so what is stored is exactly what the sealer will hash.
    return json_safe(value)


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of ``fields`` (foreign keys as ids), for a before/after diff."""
    values: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name)
        values[name] = getattr(instance, attname)
    return values


def diff(
    before: dict[str, Any], after: dict[str, Any], *, fingerprinted: Collection[str] = ()
) -> dict[str, dict[str, Any]]:
    """``{field: {"before": x, "after": y}}`` for the fields that changed; the fields named
    in ``fingerprinted`` (clinical or free text) show ``fingerprint(x)``, never ``x``."""
    changed: dict[str, dict[str, Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            if name in fingerprinted:
                old, new = fingerprint(old), fingerprint(new)
            changed[name] = {"before": old, "after": new}
    return changed


FINGERPRINT_PREFIX = "hmac-sha256:"


def fingerprint(value: Any) -> str | None:
    """A keyed hash of ``value`` for an audit row that must not hold the value (clinical
    content: staff read the audit log, and ``GET audit-events/`` is not a clinical export).

    Equal values give equal fingerprints, so an auditor can tell "changed back" or "same
    dose as before" without seeing either. The key (``AUDIT_FINGERPRINT_KEY``) lives in the
    environment, not the database: a plain SHA-256 of a short note or a dose could be
    confirmed by hashing guesses, a keyed one cannot without the key. None stays None (the
    field was empty). Rotating the key makes fingerprints before and after incomparable.
    """
    if value is None:
        return None
    canonical = json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"))
    key = str(settings.AUDIT_FINGERPRINT_KEY).encode()
    return FINGERPRINT_PREFIX + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def fingerprints(values: dict[str, Any]) -> dict[str, str | None]:
    """``{field: fingerprint(value)}``: the audit metadata of clinical values."""
    return {name: fingerprint(value) for name, value in values.items()}


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: ObjectRef = None,
    changes: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> models.Model:
    """Write one audit row in the caller's transaction and return it.

    ``actor`` is a user (or None for the system), ``action`` a dotted verb such as
    ``"appointment.book"``, ``obj`` a model instance or ``(object_type, object_id)``,
    ``changes`` usually ``diff(before, after)``. Secret-looking keys are dropped.
    """
    _require_transaction()
    row = _new_row(actor=actor, action=action, obj=obj, changes=changes, metadata=metadata)
    if not settings.AUDIT_ENABLED:  # the benchmark's "audit off" baseline: nothing saved
        return row
    # In a core.sql.statements_together block the row goes with the block's next write.
    insert_row(row, _INSERT_FIELDS, later=True)
    _seal_on_commit()
    return row


def audit_record_many(
    *, actor: Any, action: str, records: Iterable[tuple[ObjectRef, dict[str, Any]]]
) -> list[models.Model]:
    """``audit_record`` for many objects ``(obj, metadata)`` in one INSERT: the reads of a
    list page are audited in a constant number of queries, whatever the page size."""
    _require_transaction()
    rows = [
        _new_row(actor=actor, action=action, obj=obj, changes=None, metadata=metadata)
        for obj, metadata in records
    ]
    if not rows or not settings.AUDIT_ENABLED:
        return rows
    created = apps.get_model("audit", "AuditEvent").objects.bulk_create(rows)
    _seal_on_commit()
    return list(created)


# The columns audit_record writes (core.sql.insert_row: one INSERT compiled once).
_INSERT_FIELDS = (
    "actor_id", "actor_role", "action", "object_type", "object_id",
    "changes", "metadata", "request_id", "ip_address", "occurred_at",
)  # fmt: skip


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction(
            "audit_record must run inside the transaction of the change it records."
        )


def _new_row(
    *,
    actor: Any,
    action: str,
    obj: ObjectRef,
    changes: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
) -> models.Model:
    object_type, object_id = object_ref(obj)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    audit_event = apps.get_model("audit", "AuditEvent")
    return audit_event(
        actor_id=actor.pk if is_user else None,
        actor_role=str(getattr(actor, "role", "") or "") if is_user else "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes=scrub(changes or {}),
        metadata=scrub(metadata or {}),
        request_id=current_request_id() or "",
        ip_address=current_client_ip(),
    )


def _seal_on_commit() -> None:
    """One seal request per transaction, however many rows it writes (a bulk import)."""
    connection = transaction.get_connection()
    # Django keeps pending callbacks as (savepoint ids, func, robust); a callback of a
    # rolled-back savepoint is dropped from the list, so this never loses a request.
    if any(pending[1] is request_seal for pending in connection.run_on_commit):
        return
    transaction.on_commit(request_seal)


def request_seal() -> None:
    """Ask a worker to seal new rows, off the request path. Requests made while one is
    waiting fold into it (one seal run covers them all), and a process publishes at
    most one per ``SEAL_REQUEST_WINDOW_SECONDS``. Never raises: the periodic seal
    catches up with anything a lost publish left."""
    send_task_soon(SEAL_TASK_NAME, coalesce=True, coalesce_window=SEAL_REQUEST_WINDOW_SECONDS)
