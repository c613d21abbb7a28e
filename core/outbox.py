"""The event outbox (SPEC invariant 6): publish in the transaction, deliver after commit.

A service calls ``event_publish`` inside its transaction; the row commits with the
change. After commit a Celery task (``core.tasks.outbox_deliver``, one publish for the
events a process committed within ``DELIVER_PUBLISH_WINDOW_SECONDS``) delivers it; if the
broker is down the request still succeeds and the periodic sweep
(``core.tasks.outbox_sweep``) delivers it later. Delivery is at least once.

Other apps react through subscribers, registered at import time of their ``events.py``::

    from core.outbox import subscriber

    @subscriber("appointment.scheduled", name="notifications")
    def send_booking_email(event: OutboxEvent) -> None: ...

Each (event, subscriber) pair gets one ``OutboxDelivery`` row. By default the handler
runs in one transaction with that row (and a lock on the event), so its database
effects happen exactly once even when Celery redelivers. A handler that must manage
its own transactions (it calls a ``durable=True`` service) registers with
``atomic=False``; it then runs before its delivery row is written and must itself be
idempotent by ``event.id``.

A row that must exist as soon as the change does (a booking's consultation) cannot wait
for delivery: ``on_publish`` registers a handler that ``event_publish`` runs at once, in
the publisher's transaction, so its writes commit with the change or not at all.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from core.broker import send_task_fail_fast, send_task_soon
from core.lock_objects import outbox_event_lock
from core.models import OutboxDelivery, OutboxEvent
from core.request_context import current_request_id, reset_request_id, set_request_id
from core.serialization import json_safe
from core.sql import insert_row

logger = logging.getLogger(__name__)

ALL_EVENTS = "*"
# What event_publish writes (core.sql.insert_row): the rest keep their database defaults.
_EVENT_FIELDS = (
    "id", "name", "payload", "aggregate_type", "aggregate_id", "request_id", "created_at",
    "attempts", "last_error",
)  # fmt: skip
DELIVER_TASK_NAME = "core.outbox_deliver"
# A process's events of this long go to the worker in one publish (core.broker's batches):
# one publish per event cost about 0.5 ms of CPU, a sixth of a booking's.
DELIVER_PUBLISH_WINDOW_SECONDS = 0.1
SWEEP_BATCH_SIZE = 200

Handler = Callable[[OutboxEvent], Any]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Subscription:
    event_name: str
    name: str
    handler: Handler
    atomic: bool = True


_subscriptions: dict[str, dict[str, Subscription]] = defaultdict(dict)
_on_publish: dict[str, dict[str, Handler]] = defaultdict(dict)
_discovered = False


class OutboxDeliveryFailed(Exception):
    """At least one subscriber failed; the task retries and the sweep tries again later."""


def subscriber(
    event_names: str | Iterable[str], *, name: str, atomic: bool = True
) -> Callable[[H], H]:
    """Register the decorated function for ``event_names`` (``"*"`` for every event).

    ``name`` identifies the subscriber in delivery records: keep it stable, because
    a renamed subscriber receives every undelivered event again.
    """
    names = [event_names] if isinstance(event_names, str) else list(event_names)

    def register(handler: H) -> H:
        for event_name in names:
            existing = _subscriptions[event_name].get(name)
            if existing is not None and existing.handler is not handler:
                qualname = getattr(existing.handler, "__qualname__", existing.handler)
                raise ValueError(f"Subscriber {name!r} for {event_name!r} is {qualname}")
            _subscriptions[event_name][name] = Subscription(event_name, name, handler, atomic)
        return handler

    return register


def on_publish(event_names: str | Iterable[str], *, name: str) -> Callable[[H], H]:
    """Register the decorated function to run inside ``event_publish`` of ``event_names``.

    It runs on the publisher's path, in its transaction: keep it to a few writes and no
    reads (the event carries what it needs); an exception aborts the publisher's change.
    It runs once per publish, never again on delivery, so it needs no delivery row.
    """
    names = [event_names] if isinstance(event_names, str) else list(event_names)

    def register(handler: H) -> H:
        for event_name in names:
            existing = _on_publish[event_name].get(name)
            if existing is not None and existing is not handler:
                raise ValueError(f"On-publish handler {name!r} for {event_name!r} is taken")
            _on_publish[event_name][name] = handler
        return handler

    return register


def unsubscribe(event_name: str, name: str) -> None:
    """Remove a registration (tests that register throwaway subscribers clean up)."""
    _subscriptions[event_name].pop(name, None)
    _on_publish[event_name].pop(name, None)


def subscriptions_for(event_name: str) -> list[Subscription]:
    """Subscribers of ``event_name`` (including ``"*"`` ones), in a stable order."""
    _discover()
    found = {**_subscriptions.get(ALL_EVENTS, {}), **_subscriptions.get(event_name, {})}
    return [found[key] for key in sorted(found)]


def _discover() -> None:
    global _discovered
    if not _discovered:
        # Every app's events.py registers its subscribers when imported.
        autodiscover_modules("events")
        _discovered = True


# --- publishing ---------------------------------------------------------------


def event_publish(
    *,
    name: str,
    payload: dict[str, Any],
    aggregate: tuple[str, str | int] | None = None,
) -> OutboxEvent:
    """Record ``name`` in the outbox inside the caller's transaction; deliver after commit."""
    aggregate_type, aggregate_id = aggregate if aggregate is not None else ("", "")
    event = OutboxEvent(
        name=name,
        payload=json_safe(payload),
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        request_id=current_request_id() or "",
    )
    # In a core.sql.statements_together block the row goes with the block's next write.
    insert_row(event, _EVENT_FIELDS, later=True)
    _discover()
    handlers = _on_publish.get(name, {})
    for key in sorted(handlers):
        handlers[key](event)
    event_id = str(event.id)
    # Published from the background thread, with the process's other events of the window:
    # the request never waits for the broker.
    transaction.on_commit(lambda: _deliver_soon(event_id))
    return event


def _deliver_soon(event_id: str) -> None:
    send_task_soon(
        DELIVER_TASK_NAME,
        (event_id,),
        batch=True,
        coalesce_window=DELIVER_PUBLISH_WINDOW_SECONDS,
    )


def enqueue_delivery(event_id: str) -> bool:
    """Queue the delivery task now. Never raises: a broker outage leaves it to the sweep."""
    return send_task_fail_fast(DELIVER_TASK_NAME, (event_id,))


# --- delivering ---------------------------------------------------------------


def outbox_event_deliver(*, event_id: str | UUID) -> bool:
    """Deliver one event to each subscriber that has not had it yet.

    Returns True when the event is fully delivered; raises ``OutboxDeliveryFailed``
    (after recording the error) when a subscriber failed, so the caller can retry.
    """
    event = OutboxEvent.objects.filter(id=event_id).first()
    if event is None or event.delivered_at is not None:
        return True
    failures: list[str] = []
    token = set_request_id(event.request_id or None)
    try:
        for subscription in subscriptions_for(event.name):
            try:
                _deliver_to(event, subscription)
            except Exception as exc:
                logger.exception(
                    "subscriber %s failed on event %s (%s)", subscription.name, event.id, event.name
                )
                failures.append(f"{subscription.name}: {type(exc).__name__}: {exc}")
    finally:
        reset_request_id(token)
    _record_attempt(event, failures)
    if failures:
        raise OutboxDeliveryFailed("; ".join(failures))
    return True


def _deliver_to(event: OutboxEvent, subscription: Subscription) -> None:
    if not subscription.atomic:
        if _already_delivered(event, subscription):
            return
        subscription.handler(event)
        OutboxDelivery.objects.get_or_create(event=event, subscriber=subscription.name)
        _count_delivered()
        return
    with transaction.atomic():
        # The event lock makes a concurrent redelivery wait, then see the delivery row.
        outbox_event_lock(event.id)
        if _already_delivered(event, subscription):
            return
        subscription.handler(event)
        OutboxDelivery.objects.create(event=event, subscriber=subscription.name)
        transaction.on_commit(_count_delivered)


def _already_delivered(event: OutboxEvent, subscription: Subscription) -> bool:
    return OutboxDelivery.objects.filter(event=event, subscriber=subscription.name).exists()


def _count_delivered() -> None:
    from core.metrics import EVENTS_DELIVERED

    EVENTS_DELIVERED.inc()


def _record_attempt(event: OutboxEvent, failures: list[str]) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {"last_attempt_at": now, "last_error": "\n".join(failures)[:4000]}
    if not failures:
        fields["delivered_at"] = now
    OutboxEvent.objects.filter(id=event.id).update(attempts=F("attempts") + 1, **fields)


def outbox_sweep_pending(
    *, older_than: timedelta | None = None, batch_size: int = SWEEP_BATCH_SIZE
) -> int:
    """Deliver undelivered events older than ``older_than``; returns how many got through.

    Events that failed ``OUTBOX_MAX_ATTEMPTS`` times are left for staff (see the admin).
    """
    if older_than is None:
        older_than = timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS)
    cutoff = timezone.now() - older_than
    event_ids = list(
        OutboxEvent.objects.filter(
            delivered_at__isnull=True,
            created_at__lte=cutoff,
            attempts__lt=settings.OUTBOX_MAX_ATTEMPTS,
        )
        .order_by("created_at")
        .values_list("id", flat=True)[:batch_size]
    )
    delivered = 0
    for event_id in event_ids:
        try:
            outbox_event_deliver(event_id=event_id)
        except OutboxDeliveryFailed:
            continue  # recorded on the event; the next sweep tries again
        delivered += 1
    return delivered


# --- reads (metrics, admin) ---------------------------------------------------


def pending_event_count() -> int:
    """Undelivered events (the ``events_pending`` gauge of core.metrics)."""
    return OutboxEvent.objects.filter(delivered_at__isnull=True).count()


def outbox_stats() -> dict[str, int]:
    """Counts for metrics and dashboards: pending, delivered, and given-up (dead) events."""
    max_attempts = settings.OUTBOX_MAX_ATTEMPTS
    undelivered = Q(delivered_at__isnull=True)
    return {
        "pending": OutboxEvent.objects.filter(undelivered, attempts__lt=max_attempts).count(),
        "dead": OutboxEvent.objects.filter(undelivered, attempts__gte=max_attempts).count(),
        "delivered": OutboxEvent.objects.filter(delivered_at__isnull=False).count(),
    }


def outbox_event_retry(*, event_id: str | UUID) -> bool:
    """Staff action: give an undelivered (possibly given-up) event a fresh start now."""
    reset = OutboxEvent.objects.filter(id=event_id, delivered_at__isnull=True).update(attempts=0)
    if not reset:
        return False
    return enqueue_delivery(str(event_id))
