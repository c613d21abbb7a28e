"""Every row lock of notifications is taken here, one row at a time."""

from __future__ import annotations

from accounts.models import User
from notifications.models import Notification, NotificationPreference, WebhookEndpoint


def notification_lock(notification_id: int) -> Notification | None:
    """Lock one notification, loaded with its recipient and appointment people.

    ``of=self``: PostgreSQL cannot lock the nullable side of the appointment join.
    """
    return (
        Notification.objects.select_for_update(of=("self",))
        .select_related("recipient", "appointment__patient", "appointment__clinician")
        .filter(pk=notification_id)
        .first()
    )


def webhook_endpoint_lock(endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)


def notification_preference_lock(user: User) -> NotificationPreference:
    """The user's preferences row, created if missing, locked: concurrent first changes
    make one row."""
    preference, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
    return preference
