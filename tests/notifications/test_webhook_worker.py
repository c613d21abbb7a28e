"""Webhook retries through a real Celery worker on Redis and a real failing receiver.

The worker runs in a thread of this process (celery.contrib.testing) on a queue of its
own (``WEBHOOK_QUEUE``), so it takes no other test's tasks, even under xdist.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction
from django.test import override_settings

from config.celery import app as celery_app
from notifications.models import WebhookDelivery
from notifications.webhook_delivery import webhook_deliveries_create_for_event
from tests.factories import WebhookEndpointFactory
from tests.notifications.test_webhooks import Event

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_a_500_is_retried_by_the_worker_with_backoff_until_the_receiver_recovers(receiver):
    # given a receiver that fails twice, then recovers, and a worker on its own queue
    queue = f"carebook-webhooks-test-{uuid.uuid4().hex}"
    receiver.secret = "whsec_worker"
    receiver.script([500, 502, 200])
    endpoint = WebhookEndpointFactory(url=receiver.url, secret="whsec_worker", breaker_threshold=5)

    with (
        override_settings(WEBHOOK_QUEUE=queue, WEBHOOK_RETRY_BASE_SECONDS=0.2),
        start_worker(
            celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30
        ),
    ):
        # when an event creates a delivery (queued after commit)
        with transaction.atomic():
            [delivery] = webhook_deliveries_create_for_event(event=Event())

        # then the worker keeps trying, with a delay, until it succeeds
        wait_for(
            lambda: WebhookDelivery.objects.filter(
                pk=delivery.pk, status=WebhookDelivery.Status.SUCCEEDED
            ).exists()
        )

    attempts = list(delivery.attempt_log.values_list("number", "status_code", "succeeded"))
    assert attempts == [(1, 500, False), (2, 502, False), (3, 200, True)]
    assert receiver.count == 3
    # the retries waited a jittered backoff (base 0.2 s here), not the default 10 s base
    stamps = list(delivery.attempt_log.values_list("started_at", flat=True))
    assert (stamps[2] - stamps[0]).total_seconds() < 5
    assert all(request.verified for request in receiver.requests)
    assert endpoint.deliveries.count() == 1
