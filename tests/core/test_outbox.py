"""core.outbox: events written with the change, delivered once per subscriber."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Hospital
from core.models import OutboxDelivery, OutboxEvent
from core.outbox import (
    OutboxDeliveryFailed,
    event_publish,
    outbox_event_deliver,
    outbox_stats,
    outbox_sweep_pending,
    pending_event_count,
    subscriber,
    unsubscribe,
)

pytestmark = pytest.mark.django_db

# Effects of the test subscribers: rows in a real table, so a duplicate would show.
EVENT = "test.hospital_touched"


@pytest.fixture
def hospital_subscriber():
    """A subscriber that creates one hospital per event (its effect is countable)."""
    calls: list[str] = []

    @subscriber(EVENT, name="test-hospitals")
    def create_hospital(event: OutboxEvent) -> None:
        calls.append(str(event.id))
        Hospital.objects.create(code=f"EV-{str(event.id)[:8]}", name=event.payload["name"])

    yield calls
    unsubscribe(EVENT, "test-hospitals")


@pytest.fixture
def failing_subscriber():
    @subscriber(EVENT, name="test-failing")
    def fail(event: OutboxEvent) -> None:
        Hospital.objects.create(code="FAIL-1", name="rolled back with the failure")
        raise ConnectionError("downstream unavailable")

    yield
    unsubscribe(EVENT, "test-failing")


def publish(name: str = "Clinic A") -> OutboxEvent:
    with transaction.atomic():
        return event_publish(name=EVENT, payload={"name": name}, aggregate=("accounts.hospital", 7))


def test_publish_stores_the_event_with_its_aggregate():
    event = publish()
    stored = OutboxEvent.objects.get(id=event.id)
    assert stored.name == EVENT
    assert stored.payload == {"name": "Clinic A"}
    assert (stored.aggregate_type, stored.aggregate_id) == ("accounts.hospital", "7")
    assert stored.delivered_at is None
    assert pending_event_count() == 1


def test_payload_is_stored_as_json_values():
    when = timezone.now()
    with transaction.atomic():
        event = event_publish(name=EVENT, payload={"at": when, "n": 1})
    assert OutboxEvent.objects.get(id=event.id).payload == {
        "at": when.isoformat(),
        "n": 1,
    }


def test_delivery_runs_each_subscriber_once_even_when_redelivered(hospital_subscriber):
    # given a published event
    event = publish()
    # when it is delivered twice (a Celery redelivery)
    outbox_event_deliver(event_id=event.id)
    OutboxEvent.objects.filter(id=event.id).update(delivered_at=None)  # as if not marked
    outbox_event_deliver(event_id=event.id)
    # then the subscriber's effect happened once and one delivery row exists
    assert hospital_subscriber == [str(event.id)]
    assert Hospital.objects.filter(name="Clinic A").count() == 1
    assert OutboxDelivery.objects.filter(event=event, subscriber="test-hospitals").count() == 1
    assert OutboxEvent.objects.get(id=event.id).delivered_at is not None


def test_failed_subscriber_rolls_back_its_effect_and_others_still_deliver(
    hospital_subscriber, failing_subscriber
):
    event = publish()
    with pytest.raises(OutboxDeliveryFailed, match="test-failing"):
        outbox_event_deliver(event_id=event.id)
    stored = OutboxEvent.objects.get(id=event.id)
    assert stored.delivered_at is None
    assert stored.attempts == 1
    assert "ConnectionError" in stored.last_error
    assert not Hospital.objects.filter(code="FAIL-1").exists()
    delivered_to = set(OutboxDelivery.objects.values_list("subscriber", flat=True))
    assert "test-hospitals" in delivered_to
    assert "test-failing" not in delivered_to
    assert outbox_stats() == {"pending": 1, "dead": 0, "delivered": 0}


def test_sweep_delivers_only_old_undelivered_events(hospital_subscriber):
    old = publish("Old")
    OutboxEvent.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(minutes=5))
    fresh = publish("Fresh")
    delivered = outbox_sweep_pending(older_than=timedelta(seconds=60))
    assert delivered == 1
    assert OutboxEvent.objects.get(id=old.id).delivered_at is not None
    assert OutboxEvent.objects.get(id=fresh.id).delivered_at is None
    assert hospital_subscriber == [str(old.id)]


def test_sweep_gives_up_after_max_attempts(settings, failing_subscriber):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    event = publish()
    OutboxEvent.objects.filter(id=event.id).update(created_at=timezone.now() - timedelta(hours=1))
    for _ in range(3):
        outbox_sweep_pending(older_than=timedelta(seconds=0))
    assert OutboxEvent.objects.get(id=event.id).attempts == 2
    assert outbox_stats() == {"pending": 0, "dead": 1, "delivered": 0}


def test_event_without_subscribers_is_marked_delivered():
    with transaction.atomic():
        event = event_publish(name="test.nobody_listens", payload={})
    assert outbox_event_deliver(event_id=event.id) is True
    assert OutboxEvent.objects.get(id=event.id).delivered_at is not None


def test_a_name_cannot_be_taken_by_two_handlers(hospital_subscriber):
    with pytest.raises(ValueError, match="test-hospitals"):
        subscriber(EVENT, name="test-hospitals")(lambda event: None)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_leaves_no_event():
    def change_that_fails_after_publishing() -> None:
        with transaction.atomic():
            event_publish(name=EVENT, payload={"name": "never"})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails_after_publishing()
    assert OutboxEvent.objects.count() == 0
