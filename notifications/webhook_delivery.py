"""Outbound webhook delivery: deliveries, and one signed HTTP attempt with its retries.

Endpoints (saving, validating, rotating secrets) are ``notifications.webhook_endpoints``.
Flow: an outbox event → ``webhook_deliveries_create_for_event`` (one delivery per matching
endpoint, unique per event) → Celery ``webhook_deliver`` → ``webhook_delivery_attempt``:
claim the delivery, ask the endpoint's circuit breaker, wait for a rate-limit token,
POST the signed body, record the attempt, and either finish or schedule the next try with
full-jitter exponential backoff. Breaker and rate limit live in Redis (core.resilience),
so they hold across every worker process.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import audit_record
from core.errors import Conflict
from core.resilience import (
    CircuitBreaker,
    RateLimitedError,
    RateLimiter,
    backoff_delay,
)
from notifications.egress import (
    DestinationRefused,
    Resolver,
    destination_resolve,
    pinned_request,
)
from notifications.metrics import WEBHOOK_FAILURES
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services import EventLike
from notifications.signing import (
    DELIVERY_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status

# Settings may override: WEBHOOK_RETRY_BASE_SECONDS, and WEBHOOK_QUEUE to send attempts
# to a queue of their own (run a worker with ``-Q <queue>``).
RETRY_BASE_SECONDS = 10.0
RETRY_CAP_SECONDS = 6 * 3600.0
# A worker waits at most this long for a rate-limit token; beyond it the delivery is
# rescheduled instead of holding a worker slot.
MAX_RATE_WAIT_SECONDS = 5.0
# A claimed delivery is invisible to other workers (and the sweep) for its timeout plus
# this margin; a worker that dies mid-attempt releases it when the lease runs out.
LEASE_MARGIN_SECONDS = 30.0
SWEEP_BATCH_SIZE = 200
SWEEP_GRACE_SECONDS = 30.0
USER_AGENT = "Carebook-Webhooks/1"
# Of a failed delivery's response body, only this much is read and kept (for the admin):
# a receiver, or whatever a URL points at, must not fill the worker's memory or our rows.
MAX_ERROR_BODY_BYTES = 2048


# --- an endpoint's circuit breaker and rate limit -----------------------------------------


def endpoint_breaker(endpoint: WebhookEndpoint) -> CircuitBreaker:
    return CircuitBreaker(
        f"webhook-endpoint:{endpoint.uid}",
        threshold=endpoint.breaker_threshold,
        cooldown=float(endpoint.breaker_cooldown_seconds),
        probe_timeout=endpoint.timeout_seconds + LEASE_MARGIN_SECONDS,
    )


def webhook_deliveries_release(*, endpoint: WebhookEndpoint) -> int:
    """Close ``endpoint``'s circuit and queue its waiting deliveries now (after commit)."""
    endpoint_breaker(endpoint).reset()
    waiting = WebhookDelivery.objects.filter(
        endpoint=endpoint, status=Status.PENDING, next_attempt_at__gt=timezone.now()
    )
    ids = list(waiting.values_list("pk", flat=True))
    waiting.update(next_attempt_at=timezone.now())
    for delivery_id in ids:
        _enqueue_on_commit(delivery_id)
    return len(ids)


def endpoint_limiter(endpoint: WebhookEndpoint) -> RateLimiter:
    return RateLimiter(f"webhook-endpoint:{endpoint.uid}", rate=endpoint.rate_per_second)


# --- deliveries ---------------------------------------------------------------------------


def webhook_body(event: EventLike, created_at: datetime | None = None) -> dict[str, Any]:
    stamp = created_at or getattr(event, "created_at", None) or timezone.now()
    return {
        "id": str(event.id),
        "type": event.name,
        "created_at": stamp.isoformat(),
        "data": event.payload,
    }


def webhook_deliveries_create_for_event(*, event: EventLike) -> list[WebhookDelivery]:
    """One pending delivery per active endpoint that wants ``event``; idempotent per event."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True) if e.wants(event.name)]
    created: list[WebhookDelivery] = []
    with transaction.atomic():
        for endpoint in endpoints:
            delivery, is_new = WebhookDelivery.objects.get_or_create(
                endpoint=endpoint,
                event_id=event.id,
                redelivery_of=None,
                defaults={
                    "event_type": event.name,
                    "payload": webhook_body(event),
                    "next_attempt_at": timezone.now(),
                },
            )
            if is_new:
                created.append(delivery)
                _enqueue_on_commit(delivery.pk)
    return created


@transaction.atomic(durable=True)
def webhook_delivery_redeliver(*, delivery: WebhookDelivery, actor: Any) -> WebhookDelivery:
    """Send a past delivery again, as a new delivery row pointing at the original."""
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        raise Conflict("The endpoint is inactive.", code="webhook_endpoint_inactive")
    original = delivery.redelivery_of or delivery
    copy = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        payload=delivery.payload,
        redelivery_of=original,
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        next_attempt_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="webhook_delivery.redeliver",
        obj=copy,
        metadata={"original_delivery_id": original.pk, "event_id": str(delivery.event_id)},
    )
    _enqueue_on_commit(copy.pk)
    return copy


def _enqueue_on_commit(delivery_id: int, countdown: float = 0.0) -> None:
    transaction.on_commit(lambda: enqueue_delivery_attempt(delivery_id, countdown))


def enqueue_delivery_attempt(delivery_id: int, countdown: float = 0.0) -> bool:
    """Queue an attempt. Never raises: with the broker down the sweep picks it up."""
    from notifications.tasks import webhook_deliver

    options: dict[str, Any] = {"countdown": countdown, "retry": False}
    if queue := getattr(settings, "WEBHOOK_QUEUE", ""):
        options["queue"] = queue  # a dedicated worker keeps slow receivers from others' work
    try:
        webhook_deliver.apply_async(args=(delivery_id,), **options)
    except Exception:
        logger.warning("webhook delivery %s not queued (broker down); sweep will", delivery_id)
        return False
    return True


# --- one attempt ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptOutcome:
    """What happened; ``retry_in`` is set when the caller should try again later."""

    result: str  # succeeded | retry | failed | skipped | circuit_open | rate_limited
    retry_in: float | None = None
    status_code: int | None = None


def _claim(delivery_id: int, lease: float) -> WebhookDelivery | None:
    """Take a due delivery for this worker only (an atomic UPDATE, no lock held)."""
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimed = WebhookDelivery.objects.filter(due, pk=delivery_id, status=Status.PENDING).update(
        next_attempt_at=now + timedelta(seconds=lease)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)


def _release(delivery: WebhookDelivery, retry_in: float) -> None:
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
    delivery.save(update_fields=["next_attempt_at"])


def webhook_delivery_attempt(
    *,
    delivery_id: int,
    transport: httpx.BaseTransport | None = None,
    resolver: Resolver | None = None,
) -> AttemptOutcome:
    """Try one delivery once, if it is due and the endpoint's breaker and rate allow.

    ``transport`` and ``resolver`` stand in for the network and DNS in tests.
    """
    lease = 60.0 + LEASE_MARGIN_SECONDS + MAX_RATE_WAIT_SECONDS
    delivery = _claim(delivery_id, lease)
    if delivery is None:
        return AttemptOutcome("skipped")
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        _finish(delivery, Status.FAILED, error="endpoint inactive")
        return AttemptOutcome("failed")

    breaker = endpoint_breaker(endpoint)
    # Look first (no probe taken): an open circuit spends no rate-limit token.
    peek = breaker.peek()
    if not peek.allowed:
        return _refused_by_breaker(delivery, peek.retry_in)
    try:
        endpoint_limiter(endpoint).acquire(max_wait=MAX_RATE_WAIT_SECONDS)
    except RateLimitedError as limited:
        _release(delivery, limited.retry_in)
        return AttemptOutcome("rate_limited", retry_in=limited.retry_in)
    decision = breaker.allow()
    if not decision.allowed:  # another worker took the half-open probe meanwhile
        return _refused_by_breaker(delivery, decision.retry_in)

    response_code, error, retry_after, duration_ms, started = _post(
        delivery, endpoint, transport, resolver
    )
    succeeded = response_code is not None and 200 <= response_code < 300
    # A 429 means the receiver is alive and asking us to slow down: not a breaker failure.
    if succeeded or response_code == 429:
        breaker.success()
    else:
        breaker.failure()
    return _record(delivery, endpoint, response_code, error, retry_after, duration_ms, started)


def _refused_by_breaker(delivery: WebhookDelivery, retry_in: float) -> AttemptOutcome:
    # No attempt and no attempt count: the circuit spares the receiver until cool-down.
    wait = max(retry_in, 0.5)
    _release(delivery, wait)
    return AttemptOutcome("circuit_open", retry_in=wait)


def _post(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    transport: httpx.BaseTransport | None,
    resolver: Resolver | None,
) -> tuple[int | None, str, float | None, int, datetime]:
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header([endpoint.secret, endpoint.previous_secret], body),
        EVENT_ID_HEADER: str(delivery.event_id),
        EVENT_TYPE_HEADER: delivery.event_type,
        DELIVERY_ID_HEADER: str(delivery.pk),
        # An error body is read raw and cut short: never inflate a compressed one.
        "Accept-Encoding": "identity",
    }
    timeout = httpx.Timeout(endpoint.timeout_seconds, connect=min(5.0, endpoint.timeout_seconds))
    started = timezone.now()
    clock = time.monotonic()
    code: int | None = None
    error = ""
    retry_after: float | None = None
    try:
        # Resolved once; the request goes to a checked address (DNS rebinding: no 2nd lookup).
        destination = destination_resolve(endpoint.url, resolver=resolver)
        # trust_env=False: no proxy from the environment; never follow redirects.
        with httpx.Client(timeout=timeout, trust_env=False, transport=transport) as client:
            for number, address in enumerate(destination.addresses, start=1):
                url, host_header, extensions = pinned_request(destination, address)
                request = client.build_request(
                    "POST", url, content=body, headers={**headers, **host_header}
                )
                request.extensions.update(extensions)
                try:
                    response = client.send(request, stream=True)
                except httpx.ConnectError:
                    if number == len(destination.addresses):
                        raise
                    continue  # the name's next checked address, as a browser would
                try:
                    code = response.status_code
                    if not 200 <= code < 300:
                        deadline = clock + endpoint.timeout_seconds
                        error = f"HTTP {code}: {_body_start(response, deadline)}"
                        retry_after = _retry_after(response.headers.get("Retry-After"))
                finally:
                    response.close()
                break
    except DestinationRefused as exc:
        error = f"refused: {exc.message}"[:500]
    except httpx.TimeoutException as exc:
        error = f"timeout after {endpoint.timeout_seconds}s ({type(exc).__name__})"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.monotonic() - clock) * 1000)
    return code, error, retry_after, duration_ms, started


def _body_start(response: httpx.Response, deadline: float) -> str:
    """The first MAX_ERROR_BODY_BYTES of the body, read raw, within the attempt's time."""
    received = b""
    try:
        for chunk in response.iter_raw():
            received += chunk
            if len(received) >= MAX_ERROR_BODY_BYTES or time.monotonic() >= deadline:
                break
    except httpx.HTTPError:
        pass  # the status code is the outcome; a body cut off midway is still worth showing
    text = received[:MAX_ERROR_BODY_BYTES].decode("utf-8", errors="replace")
    # PostgreSQL text cannot hold NUL: one in a receiver's body would fail the attempt's row.
    return text.replace("\x00", "\ufffd")


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return min(float(value.strip()), RETRY_CAP_SECONDS)
    return None


def _record(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    code: int | None,
    error: str,
    retry_after: float | None,
    duration_ms: int,
    started: datetime,
) -> AttemptOutcome:
    succeeded = code is not None and 200 <= code < 300
    with transaction.atomic(durable=True):
        delivery.attempts += 1
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=started,
            duration_ms=duration_ms,
            status_code=code,
            error=error,
            succeeded=succeeded,
        )
        delivery.last_status_code = code
        delivery.last_error = error
        if succeeded:
            _finish(delivery, Status.SUCCEEDED)
            return AttemptOutcome("succeeded", status_code=code)
        WEBHOOK_FAILURES.inc()
        if delivery.attempts >= endpoint.max_attempts:
            _finish(delivery, Status.FAILED, error=error)
            return AttemptOutcome("failed", status_code=code)
        delay = backoff_delay(delivery.attempts - 1, base=_retry_base(), cap=RETRY_CAP_SECONDS)
        delay = max(delay, retry_after or 0.0)
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        delivery.save(
            update_fields=["attempts", "last_status_code", "last_error", "next_attempt_at"]
        )
        return AttemptOutcome("retry", retry_in=delay, status_code=code)


def _retry_base() -> float:
    return float(getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS))


def _finish(delivery: WebhookDelivery, status: str, *, error: str = "") -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    if status == Status.SUCCEEDED:
        delivery.delivered_at = timezone.now()
        delivery.last_error = ""
    elif error:
        delivery.last_error = error
    delivery.save()


def webhook_deliveries_due(
    *, now: datetime | None = None, limit: int = SWEEP_BATCH_SIZE
) -> list[int]:
    """Pending deliveries overdue by more than a grace period: their message was lost.

    The grace keeps the sweep from duplicating messages that are merely in flight (a
    duplicate would be harmless — the claim lets one through — but it is wasted work).
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=SWEEP_GRACE_SECONDS)
    return list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
