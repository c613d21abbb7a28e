"""The outbox's delivery publishes in batches (issue #18): the events a process commits
within ``DELIVER_PUBLISH_WINDOW_SECONDS`` go to the worker in one publish, and the task
delivers every id of its list, retrying the list when one fails.

The publisher tests give a private ``core.broker._Publisher`` a recording sink in place of
the broker (as tests/core/test_broker.py does); the task tests run the real task on the
test database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import transaction

from accounts.models import Hospital
from core import broker, outbox
from core.models import OutboxDelivery, OutboxEvent
from core.outbox import OutboxDeliveryFailed, event_publish, subscriber, unsubscribe
from core.request_context import reset_request_id, set_request_id
from core.tasks import outbox_deliver

EVENT = "test.batched_hospital"


class Sink:
    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple]] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, name: str, args: tuple = (), **options) -> bool:
        self.gate.wait(5)
        self.seen.append((name, args))
        return True


@pytest.fixture
def sink() -> Iterator[tuple[Sink, broker._Publisher]]:
    recorder = Sink()
    publisher = broker._Publisher(send=recorder)
    yield recorder, publisher
    recorder.gate.set()
    assert publisher.drain(timeout=5)


def test_values_asked_for_while_a_batch_waits_go_out_in_its_one_publish(sink):
    recorder, publisher = sink
    # given the thread is busy (held at the gate)
    recorder.gate.clear()
    publisher.submit("t.other", (), {}, coalesce=False)
    time.sleep(0.05)
    # when five commits each ask for their event's delivery
    for n in range(5):
        publisher.submit("t.deliver", (f"event-{n}",), {}, coalesce=False, batch=True)
    recorder.gate.set()
    assert publisher.drain(timeout=5)
    # then one publish carries the five ids, in order
    assert recorder.seen == [
        ("t.other", ()),
        ("t.deliver", ([f"event-{n}" for n in range(5)],)),
    ]
    # and a value asked for after that publish was taken goes in a publish of its own
    publisher.submit("t.deliver", ("event-late",), {}, coalesce=False, batch=True)
    assert publisher.drain(timeout=5)
    assert recorder.seen[-1] == ("t.deliver", (["event-late"],))


def test_a_window_gathers_a_storms_values_and_loses_none(sink):
    recorder, publisher = sink
    # given commits asking for deliveries continuously for 0.3 s, with a 0.1 s window
    sent: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < 0.3:
        value = f"event-{len(sent)}"
        sent.append(value)
        publisher.submit("t.deliver", (value,), {}, coalesce=False, window=0.1, batch=True)
        time.sleep(0.002)
    assert publisher.drain(timeout=5)
    # then a few publishes carry them all, each id once, in the order asked
    published = [value for _, (values,) in recorder.seen for value in values]
    assert published == sent
    assert 2 <= len(recorder.seen) <= 5 < len(sent)


def test_a_batch_refuses_options():
    with pytest.raises(ValueError, match="options"):
        broker.send_task_soon("t.deliver", ("event-id",), batch=True, queue="elsewhere")


@pytest.fixture
def hospital_subscriber() -> Iterator[list[str]]:
    """A subscriber that fails for a payload named "fail", else makes one row."""
    failing: list[str] = []

    @subscriber(EVENT, name="test-batched-hospitals")
    def create_hospital(event: OutboxEvent) -> None:
        if event.payload["name"] in failing:
            raise RuntimeError("the subscriber's dependency is down")
        Hospital.objects.create(code=f"B-{str(event.id)[:8]}", name=event.payload["name"])

    yield failing
    unsubscribe(EVENT, "test-batched-hospitals")


def published_events(*names: str) -> list[OutboxEvent]:
    with transaction.atomic():
        return [event_publish(name=EVENT, payload={"name": name}) for name in names]


@pytest.mark.django_db(transaction=True)
def test_the_task_delivers_every_event_of_its_list(hospital_subscriber):
    events = published_events("Batch one", "Batch two")
    # when the task gets both ids in one list
    assert outbox_deliver.apply(args=([str(event.id) for event in events],)).get() is True
    # then both are delivered once
    assert sorted(Hospital.objects.values_list("name", flat=True)) == ["Batch one", "Batch two"]
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_one_failing_event_does_not_stop_the_rest_and_the_retry_delivers_it_once(
    hospital_subscriber,
):
    events = published_events("Fine", "Broken", "Also fine")
    ids = [str(event.id) for event in events]
    hospital_subscriber.append("Broken")
    # when the list meets one failing subscriber call
    with pytest.raises(OutboxDeliveryFailed, match="dependency is down"):
        outbox_deliver.run(ids)
    # then the others were delivered, and the failure is recorded on its event
    assert sorted(Hospital.objects.values_list("name", flat=True)) == ["Also fine", "Fine"]
    broken = OutboxEvent.objects.get(id=events[1].id)
    assert broken.delivered_at is None
    assert "dependency is down" in broken.last_error
    # when the retry runs the same list after the dependency came back
    hospital_subscriber.clear()
    assert outbox_deliver.run(ids) is True
    # then the failed one is delivered, and nobody got anything twice
    assert Hospital.objects.count() == 3
    assert OutboxDelivery.objects.filter(subscriber="test-batched-hospitals").count() == 3


@pytest.mark.django_db(transaction=True)
def test_commits_ask_for_their_events_delivery_in_a_batch(monkeypatch):
    asked: list[tuple] = []

    def record(name, args=(), **options) -> None:
        asked.append((name, args, options))

    monkeypatch.setattr(outbox, "send_task_soon", record)
    token = set_request_id("req-batch-0001")
    try:
        events = published_events("After commit")
    finally:
        reset_request_id(token)
    # then the commit asked for a batched delivery of its event, in the outbox's window
    assert asked == [
        (
            outbox.DELIVER_TASK_NAME,
            (str(events[0].id),),
            {"batch": True, "coalesce_window": outbox.DELIVER_PUBLISH_WINDOW_SECONDS},
        )
    ]
