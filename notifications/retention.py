"""Retention of the webhook machinery (``core.retention`` runs it; docs/retention.md).

A webhook delivery is a copy of an event already kept elsewhere (the change's own rows and
its audit row), sent to a partner's endpoint. Finished ones (succeeded, or failed for
good) go with their attempts ``WEBHOOK_DELIVERY_RETENTION_DAYS`` after they were created;
a pending delivery never goes. A delivery that an operator redelivered stays while its
redelivery does (the redelivery points at it), and goes in a later batch or run.

Email notifications are not purged: each is the record of what a person was told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef

from core.retention import Batches, delete_rows, ids_of, retention_purge
from notifications.models import WebhookAttempt, WebhookDelivery

FINISHED = (WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.FAILED)


@retention_purge("webhook_deliveries")
def webhook_deliveries_purge(batches: Batches, now: datetime) -> int:
    cutoff = now - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    finished = WebhookDelivery.objects.filter(status__in=FINISHED, created_at__lt=cutoff).exclude(
        Exists(WebhookDelivery.objects.filter(redelivery_of=OuterRef("pk")))
    )
    delete_deliveries = delete_rows(WebhookDelivery)

    def delete(ids: Sequence[Any]) -> int:
        WebhookAttempt.objects.filter(delivery_id__in=ids).delete()  # no children: one DELETE
        return delete_deliveries(ids)

    return batches.delete(ids_of(finished), delete)
