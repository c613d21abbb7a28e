"""Celery tasks: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task

from notifications.services import (
    notification_retry,
    notifications_retry_failed,
    notifications_send_due_reminders,
)
from notifications.webhook_delivery import (
    enqueue_delivery_attempt,
    webhook_deliveries_due,
    webhook_delivery_attempt,
)


@shared_task(name="notifications.webhook_deliver", acks_late=True, ignore_result=True)
def webhook_deliver(delivery_id: int) -> str:
    """One attempt; the next one (backoff, open circuit, rate limit) is queued with a delay.

    Retries are new messages with a countdown rather than Celery autoretry, because the
    delay depends on the outcome (breaker cool-down, Retry-After, jittered backoff) and the
    delivery row — not the message — is the source of truth the sweep can fall back on.
    """
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        enqueue_delivery_attempt(delivery_id, countdown=outcome.retry_in)
    return outcome.result


@shared_task(name="notifications.webhook_sweep", acks_late=True, ignore_result=True)
def webhook_sweep() -> int:
    """Periodic (beat): queue deliveries that are due but whose message was lost."""
    due = webhook_deliveries_due()
    for delivery_id in due:
        enqueue_delivery_attempt(delivery_id)
    return len(due)


@shared_task(name="notifications.retry", acks_late=True, ignore_result=True)
def notification_retry_task(notification_id: int) -> None:
    notification_retry(notification_id=notification_id)


@shared_task(name="notifications.send_reminders", acks_late=True, ignore_result=True)
def send_reminders() -> int:
    """Periodic (beat): 24 h reminders; idempotent, so any schedule is safe."""
    return notifications_send_due_reminders()


@shared_task(name="notifications.retry_failed", acks_late=True, ignore_result=True)
def retry_failed() -> int:
    """Periodic (beat): failed emails whose retry message was lost, emails whose
    after-commit send was lost with its process, sends whose worker died (lease lapsed)."""
    return notifications_retry_failed()
