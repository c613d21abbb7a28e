"""Subscribers of the outbox (discovered by ``core.outbox``): emails and webhooks.

Both run inside the outbox's delivery transaction (``atomic=True``), so their rows and the
outbox's delivery record commit together; both are idempotent by event id on their own
too (unique constraints), in case a handler is ever run outside the outbox.
"""

from __future__ import annotations

from core.models import OutboxEvent
from core.outbox import ALL_EVENTS, subscriber
from notifications.services import (
    KIND_FOR_EVENT,
    KIND_FOR_SERIES_EVENT,
    notifications_for_appointment_event,
    notifications_for_series_event,
)
from notifications.webhook_delivery import webhook_deliveries_create_for_event


@subscriber(list(KIND_FOR_EVENT), name="notifications.email")
def email_on_appointment_event(event: OutboxEvent) -> None:
    notifications_for_appointment_event(event=event)


@subscriber(list(KIND_FOR_SERIES_EVENT), name="notifications.series_email")
def email_on_series_event(event: OutboxEvent) -> None:
    notifications_for_series_event(event=event)


@subscriber(ALL_EVENTS, name="notifications.webhooks")
def webhooks_on_event(event: OutboxEvent) -> None:
    webhook_deliveries_create_for_event(event=event)
