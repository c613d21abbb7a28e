"""Webhook endpoints (staff, through the admin): save, validate, rotate, reset.

A URL is checked at save (no loopback, private or metadata address: SSRF) and again at
delivery (``notifications.webhook_delivery``), which connects only to the address it checked.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction

from core.audit import audit_record, diff, snapshot
from core.errors import InvalidRequest
from notifications.egress import webhook_url_check
from notifications.lock_objects import webhook_endpoint_lock
from notifications.models import WebhookEndpoint
from notifications.webhook_delivery import webhook_deliveries_release

ENDPOINT_FIELDS = (
    "name",
    "url",
    "events",
    "is_active",
    "rate_per_second",
    "breaker_threshold",
    "breaker_cooldown_seconds",
    "max_attempts",
    "timeout_seconds",
)


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def _validate_endpoint(endpoint: WebhookEndpoint) -> None:
    if not endpoint.url.startswith(("https://", "http://")):
        raise InvalidRequest("The URL must be http(s).", code="invalid_webhook_url")
    webhook_url_check(endpoint.url)  # no loopback, private or metadata address (SSRF)
    events = endpoint.events
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(name, str) and name for name in events)
    ):
        raise InvalidRequest(
            'Events must be a non-empty list of event names (or ["*"]).',
            code="invalid_webhook_events",
        )


def webhook_endpoint_save(*, endpoint: WebhookEndpoint, actor: Any) -> WebhookEndpoint:
    """Create or update an endpoint (the admin form has validated the fields)."""
    # Checking the URL resolves its host: a DNS wait, so before the transaction opens.
    _validate_endpoint(endpoint)
    return _endpoint_write(endpoint=endpoint, actor=actor)


@transaction.atomic
def _endpoint_write(*, endpoint: WebhookEndpoint, actor: Any) -> WebhookEndpoint:
    creating = endpoint.pk is None
    if creating:
        endpoint.secret = endpoint.secret or new_webhook_secret()
        endpoint.created_by = actor if getattr(actor, "is_authenticated", False) else None
        before: dict[str, Any] = {}
    else:
        stored = webhook_endpoint_lock(endpoint.pk)
        before = snapshot(stored, ENDPOINT_FIELDS)
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook_endpoint.create" if creating else "webhook_endpoint.update",
        obj=endpoint,
        changes=diff(before, snapshot(endpoint, ENDPOINT_FIELDS)),
    )
    return endpoint


@transaction.atomic(durable=True)
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: Any) -> WebhookEndpoint:
    """New secret; the old one keeps signing too (second v1) until staff clear it."""
    endpoint = webhook_endpoint_lock(endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "updated_at"])
    audit_record(actor=actor, action="webhook_endpoint.rotate_secret", obj=endpoint)
    return endpoint


@transaction.atomic(durable=True)
def webhook_endpoint_reset_circuit(*, endpoint: WebhookEndpoint, actor: Any) -> None:
    """Close the endpoint's circuit and make its waiting deliveries due at once."""
    released = webhook_deliveries_release(endpoint=endpoint)
    audit_record(
        actor=actor,
        action="webhook_endpoint.reset_circuit",
        obj=endpoint,
        metadata={"deliveries_released": released},
    )
