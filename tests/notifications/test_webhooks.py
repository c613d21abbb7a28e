"""Outbound webhooks against a real HTTP receiver on 127.0.0.1 that fails on purpose."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError
from django.utils import timezone

from core.models import OutboxEvent
from core.outbox import event_publish, outbox_event_deliver
from core.resilience import BreakerState
from notifications.metrics import WEBHOOK_CIRCUIT_STATE, WEBHOOK_FAILURES
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.signing import (
    DELIVERY_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    verify_signature,
)
from notifications.tasks import webhook_deliver
from notifications.webhook_delivery import (
    endpoint_breaker,
    webhook_deliveries_create_for_event,
    webhook_deliveries_due,
    webhook_delivery_attempt,
    webhook_delivery_redeliver,
)
from notifications.webhook_endpoints import webhook_endpoint_rotate_secret, webhook_endpoint_save
from scheduling.services import appointment_book
from tests.clocks import resilience_on_stepping_clock
from tests.factories import PatientFactory, SlotFactory, StaffFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db


@dataclass
class Event:
    """An event-like object, as the outbox hands to subscribers."""

    name: str = "appointment.scheduled"
    payload: dict[str, Any] = field(default_factory=lambda: {"appointment_id": 7})
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    aggregate_type: str = "scheduling.appointment"
    aggregate_id: str = "7"


def deliveries_for(endpoint: WebhookEndpoint, count: int) -> list[WebhookDelivery]:
    result = []
    for _ in range(count):
        result.extend(webhook_deliveries_create_for_event(event=Event()))
    return result


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def circuit_gauge(endpoint: WebhookEndpoint) -> float:
    """The endpoint's ``webhook_circuit_state`` as a scrape would read it now."""
    [family] = WEBHOOK_CIRCUIT_STATE.collect()
    [sample] = [s for s in family.samples if s.labels == {"endpoint": str(endpoint.pk)}]
    return sample.value


# --- signed delivery -------------------------------------------------------------------------


def test_delivery_is_signed_and_the_receiver_verifies_it(receiver):
    # given an endpoint, and a receiver that verifies with the documented scheme
    WebhookEndpointFactory(url=receiver.url, secret="whsec_shared")
    receiver.secret = "whsec_shared"
    event = Event(payload={"appointment_id": 7, "start": "2026-12-01T10:00:00Z"})
    [delivery] = webhook_deliveries_create_for_event(event=event)

    # when the delivery is attempted
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    # then one request arrived, correctly signed, with the event headers and body
    assert outcome.result == "succeeded"
    [request] = receiver.requests
    assert request.verified is True
    assert request.headers[EVENT_ID_HEADER] == str(event.id)
    assert request.headers[EVENT_TYPE_HEADER] == "appointment.scheduled"
    assert request.headers[DELIVERY_ID_HEADER] == str(delivery.pk)
    body = json.loads(request.body)
    assert body["id"] == str(event.id)
    assert body["type"] == "appointment.scheduled"
    assert body["data"] == {"appointment_id": 7, "start": "2026-12-01T10:00:00Z"}
    # and the attempt is on record
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.delivered_at is not None
    assert delivery.attempts == 1
    [attempt] = delivery.attempt_log.all()
    assert (attempt.number, attempt.status_code, attempt.succeeded, attempt.error) == (
        1,
        200,
        True,
        "",
    )
    assert attempt.duration_ms >= 0


def test_a_receiver_with_the_wrong_secret_refuses_and_the_attempt_is_a_failure(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url, secret="whsec_ours")
    receiver.secret = "whsec_not_ours"
    [delivery] = deliveries_for(endpoint, 1)

    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert outcome.result == "retry"
    assert receiver.requests[0].verified is False
    assert delivery.attempt_log.get().status_code == 401


def test_after_rotation_receivers_on_either_secret_verify(receiver):
    # given an endpoint whose secret staff rotated
    staff = StaffFactory()
    endpoint = WebhookEndpointFactory(url=receiver.url, secret="whsec_old")
    endpoint = webhook_endpoint_rotate_secret(endpoint=endpoint, actor=staff)
    assert endpoint.previous_secret == "whsec_old"
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret != "whsec_old"

    # when a delivery is sent to a receiver that still knows only the old secret
    receiver.secret = "whsec_old"
    [delivery] = deliveries_for(endpoint, 1)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).result == "succeeded"

    # then it verified, and the same request verifies with the new secret too
    request = receiver.requests[0]
    assert request.verified is True
    assert request.headers[SIGNATURE_HEADER].count("v1=") == 2
    verify_signature(request.body, request.headers[SIGNATURE_HEADER], endpoint.secret)


# --- circuit breaker ---------------------------------------------------------------------------


def test_500s_open_the_circuit_and_no_attempt_is_made_until_the_cooldown(receiver, monkeypatch):
    # given an endpoint answering 500, threshold 3, cool-down 60 s on a clock the test moves
    clock = resilience_on_stepping_clock(monkeypatch)
    receiver.script([500])
    endpoint = WebhookEndpointFactory(
        url=receiver.url, breaker_threshold=3, breaker_cooldown_seconds=60, max_attempts=10
    )
    deliveries = deliveries_for(endpoint, 5)
    failures_before = WEBHOOK_FAILURES._value.get()

    # when the first three deliveries are attempted, they reach the receiver and fail
    outcomes = [webhook_delivery_attempt(delivery_id=d.pk).result for d in deliveries[:3]]
    assert outcomes == ["retry", "retry", "retry"]
    assert receiver.count == 3
    assert endpoint_breaker(endpoint).state is BreakerState.OPEN
    assert circuit_gauge(endpoint) == 2
    assert WEBHOOK_FAILURES._value.get() == failures_before + 3

    # then while open, nothing is sent: not the other deliveries, not a due retry
    make_due(deliveries[0])
    refused = [webhook_delivery_attempt(delivery_id=d.pk) for d in (*deliveries[3:], deliveries[0])]
    assert [o.result for o in refused] == ["circuit_open"] * 3
    assert all(59 <= o.retry_in <= 60 for o in refused)
    assert receiver.count == 3
    assert WebhookAttempt.objects.filter(delivery__in=deliveries[3:]).count() == 0
    deliveries[3].refresh_from_db()
    assert deliveries[3].attempts == 0
    assert deliveries[3].status == WebhookDelivery.Status.PENDING

    # and after the cool-down one probe goes through; the receiver is healthy again
    clock.advance(60)
    receiver.script([200])
    make_due(deliveries[3])
    assert webhook_delivery_attempt(delivery_id=deliveries[3].pk).result == "succeeded"
    assert receiver.count == 4
    assert endpoint_breaker(endpoint).state is BreakerState.CLOSED
    assert circuit_gauge(endpoint) == 0
    make_due(deliveries[4])
    assert webhook_delivery_attempt(delivery_id=deliveries[4].pk).result == "succeeded"


def test_a_failing_half_open_probe_reopens_the_circuit(receiver, monkeypatch):
    # given an open circuit (threshold 1, cool-down 60 s) on a receiver that keeps failing
    clock = resilience_on_stepping_clock(monkeypatch)
    receiver.script([503])
    endpoint = WebhookEndpointFactory(
        url=receiver.url, breaker_threshold=1, breaker_cooldown_seconds=60
    )
    first, second, third = deliveries_for(endpoint, 3)
    webhook_delivery_attempt(delivery_id=first.pk)
    assert endpoint_breaker(endpoint).state is BreakerState.OPEN

    # when the cool-down passes and the probe fails
    clock.advance(60)
    make_due(second)
    assert webhook_delivery_attempt(delivery_id=second.pk).result == "retry"

    # then the circuit is open again for a full cool-down: the next delivery is refused
    assert receiver.count == 2
    make_due(third)
    outcome = webhook_delivery_attempt(delivery_id=third.pk)
    assert outcome.result == "circuit_open"
    assert outcome.retry_in > 59
    assert receiver.count == 2


def test_breaker_counts_connection_errors(receiver):
    endpoint = WebhookEndpointFactory(url="http://127.0.0.1:1/nothing-listens", breaker_threshold=2)
    deliveries = deliveries_for(endpoint, 3)

    results = [webhook_delivery_attempt(delivery_id=d.pk).result for d in deliveries]

    assert results == ["retry", "retry", "circuit_open"]
    attempt = WebhookAttempt.objects.filter(delivery=deliveries[0]).get()
    assert attempt.status_code is None
    assert "Connect" in attempt.error


# --- retries, timeouts, rate limit ---------------------------------------------------------------


def test_failed_attempt_is_retried_after_a_jittered_backoff(receiver):
    # given a receiver that fails once, then recovers
    receiver.script([500, 200])
    endpoint = WebhookEndpointFactory(url=receiver.url)
    [delivery] = deliveries_for(endpoint, 1)

    # when the first attempt fails
    before = timezone.now()
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    # then the next attempt is scheduled within the first backoff ceiling (10 s)
    assert outcome.result == "retry"
    assert 0 <= outcome.retry_in <= 10
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert "HTTP 500" in delivery.last_error
    assert before <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=10)
    # and it is not attempted again before it is due
    if delivery.next_attempt_at > timezone.now():
        assert webhook_delivery_attempt(delivery_id=delivery.pk).result == "skipped"
        assert receiver.count == 1

    # when it is due, the second attempt succeeds
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).result == "succeeded"
    assert list(delivery.attempt_log.values_list("number", "status_code")) == [(1, 500), (2, 200)]


def test_429_honours_retry_after_and_does_not_trip_the_breaker(receiver):
    receiver.script([(429, {"Retry-After": "120"})])
    endpoint = WebhookEndpointFactory(url=receiver.url, breaker_threshold=1)
    [delivery] = deliveries_for(endpoint, 1)

    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert outcome.result == "retry"
    assert outcome.status_code == 429
    assert outcome.retry_in == pytest.approx(120)
    assert endpoint_breaker(endpoint).state is BreakerState.CLOSED


def test_a_slow_receiver_times_out_and_the_attempt_records_it(receiver):
    receiver.script([("slow", 1.5)])
    endpoint = WebhookEndpointFactory(url=receiver.url, timeout_seconds=0.3)
    [delivery] = deliveries_for(endpoint, 1)

    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert outcome.result == "retry"
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert attempt.error.startswith("timeout after 0.3s")
    assert 250 <= attempt.duration_ms < 1400


def test_delivery_fails_for_good_after_max_attempts(receiver):
    receiver.script([500])
    endpoint = WebhookEndpointFactory(url=receiver.url, max_attempts=2, breaker_threshold=10)
    [delivery] = deliveries_for(endpoint, 1)

    assert webhook_delivery_attempt(delivery_id=delivery.pk).result == "retry"
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk).result == "failed"

    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.next_attempt_at is None
    assert webhook_delivery_attempt(delivery_id=delivery.pk).result == "skipped"
    assert receiver.count == 2


def test_requests_to_one_endpoint_are_spaced_by_its_rate_limit(receiver):
    # given an endpoint limited to 5 requests per second
    endpoint = WebhookEndpointFactory(url=receiver.url, rate_per_second=5)
    deliveries = deliveries_for(endpoint, 4)

    # when four deliveries are sent back to back
    started = time.monotonic()
    for delivery in deliveries:
        assert webhook_delivery_attempt(delivery_id=delivery.pk).result == "succeeded"
    elapsed = time.monotonic() - started

    # then sending them took at least three token intervals (a bound load cannot break),
    # and the receiver saw them spread over roughly that time
    assert receiver.count == 4
    assert elapsed >= 0.58
    stamps = [r.at for r in receiver.requests]
    assert stamps[-1] - stamps[0] >= 0.4


# --- creating deliveries ---------------------------------------------------------------


def test_only_active_endpoints_whose_filter_matches_get_a_delivery():
    wants_all = WebhookEndpointFactory(events=["*"])
    wants_cancel = WebhookEndpointFactory(events=["appointment.cancelled"])
    WebhookEndpointFactory(events=["*"], is_active=False)

    created = webhook_deliveries_create_for_event(event=Event(name="appointment.scheduled"))
    assert [d.endpoint for d in created] == [wants_all]

    created = webhook_deliveries_create_for_event(event=Event(name="appointment.cancelled"))
    assert {d.endpoint for d in created} == {wants_all, wants_cancel}


def test_a_handler_run_twice_creates_one_delivery_per_endpoint():
    endpoint = WebhookEndpointFactory()
    event = Event()

    webhook_deliveries_create_for_event(event=event)
    again = webhook_deliveries_create_for_event(event=event)

    assert again == []
    assert WebhookDelivery.objects.filter(endpoint=endpoint, event_id=event.id).count() == 1
    with pytest.raises(IntegrityError):
        WebhookDelivery.objects.create(
            endpoint=endpoint, event_id=event.id, event_type=event.name, payload={}
        )


def test_a_booking_reaches_each_endpoint_once_through_the_outbox(receiver):
    # given an endpoint for appointment events and a booking written by the scheduling service
    receiver.secret = "whsec_outbox"
    endpoint = WebhookEndpointFactory(
        url=receiver.url, secret="whsec_outbox", events=["appointment.scheduled"]
    )
    appointment = appointment_book(patient=PatientFactory(), slot_id=SlotFactory().pk)
    event = OutboxEvent.objects.get(name="appointment.scheduled")

    # when the outbox delivers the event twice (a redelivered Celery message)
    outbox_event_deliver(event_id=event.id)
    OutboxEvent.objects.filter(id=event.id).update(delivered_at=None)
    outbox_event_deliver(event_id=event.id)

    # then there is one delivery, and it carries the event
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.event_id == event.id
    assert delivery.payload["data"]["appointment_id"] == appointment.pk
    assert webhook_delivery_attempt(delivery_id=delivery.pk).result == "succeeded"
    assert receiver.requests[0].verified is True


def test_any_event_name_can_be_subscribed_with_a_wildcard():
    endpoint = WebhookEndpointFactory(events=["*"])
    event_publish(name="notification.sent", payload={"notification_id": 1})
    event = OutboxEvent.objects.get(name="notification.sent")

    outbox_event_deliver(event_id=event.id)

    assert WebhookDelivery.objects.get(endpoint=endpoint).event_type == "notification.sent"


# --- redelivery, sweep, task ---------------------------------------------------------------


def test_staff_can_redeliver_a_past_delivery(receiver):
    # given a delivery that succeeded
    staff = StaffFactory()
    endpoint = WebhookEndpointFactory(url=receiver.url)
    [original] = deliveries_for(endpoint, 1)
    webhook_delivery_attempt(delivery_id=original.pk)

    # when staff redeliver it (twice: a redelivery of the redelivery points at the original)
    copy = webhook_delivery_redeliver(delivery=original, actor=staff)
    webhook_delivery_attempt(delivery_id=copy.pk)
    second = webhook_delivery_redeliver(delivery=copy, actor=staff)

    # then the receiver got the same event again under a new delivery id
    assert copy.redelivery_of == original
    assert second.redelivery_of == original
    assert copy.requested_by == staff
    first_request, second_request = receiver.requests
    assert first_request.headers[EVENT_ID_HEADER] == second_request.headers[EVENT_ID_HEADER]
    assert first_request.headers[DELIVERY_ID_HEADER] != second_request.headers[DELIVERY_ID_HEADER]
    assert json.loads(first_request.body) == json.loads(second_request.body)


def test_redelivery_admin_action_queues_a_copy(client):
    staff = StaffFactory(is_superuser=True)
    endpoint = WebhookEndpointFactory()
    [original] = deliveries_for(endpoint, 1)
    client.force_login(staff)

    response = client.post(
        "/admin/notifications/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [original.pk]},
        follow=True,
    )

    assert response.status_code == 200
    copy = WebhookDelivery.objects.get(redelivery_of=original)
    assert copy.status == WebhookDelivery.Status.PENDING
    assert copy.payload == original.payload


def test_redelivery_to_an_inactive_endpoint_is_refused():
    endpoint = WebhookEndpointFactory()
    [original] = deliveries_for(endpoint, 1)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    original.refresh_from_db()

    from core.errors import Conflict

    with pytest.raises(Conflict):
        webhook_delivery_redeliver(delivery=original, actor=StaffFactory())
    assert WebhookDelivery.objects.count() == 1


def test_sweep_finds_pending_deliveries_overdue_beyond_the_grace_period():
    endpoint = WebhookEndpointFactory()
    overdue, _just_created, later, done = deliveries_for(endpoint, 4)
    WebhookDelivery.objects.filter(pk=overdue.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=2)
    )
    WebhookDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    WebhookDelivery.objects.filter(pk=done.pk).update(status=WebhookDelivery.Status.SUCCEEDED)

    assert webhook_deliveries_due() == [overdue.pk]


def test_the_celery_task_runs_an_attempt(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    [delivery] = deliveries_for(endpoint, 1)

    result = webhook_deliver.apply(args=(delivery.pk,))

    assert result.get() == "succeeded"
    assert receiver.count == 1


# --- endpoints -----------------------------------------------------------------------------


def test_endpoint_save_generates_a_secret_and_validates():
    from core.errors import InvalidRequest

    staff = StaffFactory()
    endpoint = webhook_endpoint_save(
        endpoint=WebhookEndpoint(name="CRM", url="https://crm.example.test/hook", events=["*"]),
        actor=staff,
    )
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.created_by == staff

    with pytest.raises(InvalidRequest):
        webhook_endpoint_save(
            endpoint=WebhookEndpoint(name="x", url="https://x.test", events=[]), actor=staff
        )
    with pytest.raises(InvalidRequest):
        webhook_endpoint_save(
            endpoint=WebhookEndpoint(name="x", url="ftp://x.test", events=["*"]), actor=staff
        )
    assert WebhookEndpoint.objects.count() == 1


ADMIN_ADD_ENDPOINT = "/admin/notifications/webhookendpoint/add/"


def admin_endpoint_form(*, url: str) -> dict[str, str]:
    """The admin's "add webhook endpoint" form, filled in as staff would."""
    return {
        "name": "Partner",
        "url": url,
        "events": '["appointment.scheduled"]',
        "is_active": "on",
        "secret": "",
        "rate_per_second": "2",
        "timeout_seconds": "5",
        "max_attempts": "4",
        "breaker_threshold": "3",
        "breaker_cooldown_seconds": "30",
    }


def test_staff_create_an_endpoint_in_the_admin(client):
    staff = StaffFactory(is_superuser=True)
    client.force_login(staff)

    response = client.post(
        ADMIN_ADD_ENDPOINT, admin_endpoint_form(url="https://partner.example.test/hooks")
    )

    assert response.status_code == 302, response.content[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["appointment.scheduled"]
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.created_by == staff


def test_a_url_typed_without_a_scheme_in_the_admin_is_https(client):
    # given a staff member adding an endpoint, its URL typed without a scheme
    client.force_login(StaffFactory(is_superuser=True))
    # when
    response = client.post(
        ADMIN_ADD_ENDPOINT, admin_endpoint_form(url="partner.example.test/hooks")
    )
    # then it is saved as an https URL, not a plain-text http one
    assert response.status_code == 302, response.content[:2000]
    assert WebhookEndpoint.objects.get().url == "https://partner.example.test/hooks"


def test_staff_can_close_an_open_circuit_and_waiting_deliveries_go_at_once(receiver, client):
    # given an endpoint whose circuit opened, with a delivery waiting for the cool-down
    receiver.script([500])
    endpoint = WebhookEndpointFactory(url=receiver.url, breaker_threshold=1)
    first, waiting = deliveries_for(endpoint, 2)
    webhook_delivery_attempt(delivery_id=first.pk)
    assert webhook_delivery_attempt(delivery_id=waiting.pk).result == "circuit_open"

    # when staff close the circuit from the admin
    client.force_login(StaffFactory(is_superuser=True))
    response = client.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "reset_circuit", "_selected_action": [endpoint.pk]},
        follow=True,
    )

    # then the circuit is closed, the waiting delivery is due, and it goes through
    assert response.status_code == 200
    assert endpoint_breaker(endpoint).state is BreakerState.CLOSED
    assert waiting.pk in webhook_deliveries_due(now=timezone.now() + timedelta(minutes=1))
    receiver.script([200])
    assert webhook_delivery_attempt(delivery_id=waiting.pk).result == "succeeded"
    from audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="webhook_endpoint.reset_circuit").count() == 1
