"""core.broker's background publisher: order, coalescing, request context, dead brokers.

The unit tests give a private ``_Publisher`` a recording sink in place of the broker;
the Redis tests publish through the process's real publisher to a private queue and
read the messages back.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from kombu import Queue

from config.celery import app as celery_app
from core import broker
from core.request_context import current_request_id, reset_request_id, set_request_id

CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


class Sink:
    """Records what the thread publishes; ``hold()`` keeps the thread busy at the gate."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple, str | None]] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, name: str, args: tuple = (), **options) -> bool:
        self.gate.wait(5)
        if name == "t.explode":
            raise RuntimeError("unexpected failure inside a publish")
        self.seen.append((name, args, current_request_id()))
        return True

    def names(self) -> list[str]:
        return [name for name, _, _ in self.seen]


@pytest.fixture
def sink() -> Iterator[tuple[Sink, broker._Publisher]]:
    recorder = Sink()
    publisher = broker._Publisher(send=recorder)
    yield recorder, publisher
    recorder.gate.set()
    assert publisher.drain(timeout=5)


def in_request(request_id: str, publisher: broker._Publisher, name: str, args=()) -> None:
    token = set_request_id(request_id)
    try:
        publisher.submit(name, args, {}, coalesce=False)
    finally:
        reset_request_id(token)


def test_publishes_run_in_submission_order_with_the_submitters_request_id(sink):
    recorder, publisher = sink
    # given two requests that each queue a publish
    in_request("req-order-0001", publisher, "t.deliver", ("event-1",))
    in_request("req-order-0002", publisher, "t.deliver", ("event-2",))
    # when the thread has run them, then in order, each in its own request's context
    assert publisher.drain(timeout=5)
    assert recorder.seen == [
        ("t.deliver", ("event-1",), "req-order-0001"),
        ("t.deliver", ("event-2",), "req-order-0002"),
    ]


def test_requests_for_a_waiting_coalescing_task_fold_into_one(sink):
    recorder, publisher = sink
    # given the thread is busy with another publish (held at the gate)
    recorder.gate.clear()
    publisher.submit("t.busy", (), {}, coalesce=False)
    time.sleep(0.05)
    # when fifty commits ask for the seal while that one waits
    for _ in range(50):
        publisher.submit("t.seal", (), {}, coalesce=True)
    recorder.gate.set()
    assert publisher.drain(timeout=5)
    # then one seal publish covers them all
    assert recorder.names() == ["t.busy", "t.seal"]
    # and a request made after that publish was taken gets a publish of its own
    publisher.submit("t.seal", (), {}, coalesce=True)
    assert publisher.drain(timeout=5)
    assert recorder.names() == ["t.busy", "t.seal", "t.seal"]


def test_a_window_spaces_a_coalescing_tasks_publishes_and_keeps_the_last(sink):
    recorder, publisher = sink
    times: list[float] = []
    real_call = recorder.__call__

    def timed(name: str, args: tuple = (), **options) -> bool:
        times.append(time.monotonic())
        return real_call(name, args, **options)

    publisher._send = timed
    # given commits asking for the seal continuously for 0.5 s, with a 0.2 s window
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        publisher.submit("t.seal", (), {}, coalesce=True, window=0.2)
        time.sleep(0.002)
    last_request = time.monotonic()
    assert publisher.drain(timeout=5)
    # then about one publish per window, never two closer than the window
    assert 2 <= len(times) <= 4
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(times))
    # and one publish came after the last request (nothing committed is left unsealed)
    assert times[-1] >= last_request


def test_a_failing_publish_does_not_stop_the_thread(sink):
    recorder, publisher = sink
    publisher.submit("t.explode", (), {}, coalesce=False)
    publisher.submit("t.after", (), {}, coalesce=False)
    assert publisher.drain(timeout=5)
    assert recorder.names() == ["t.after"]


def test_coalescing_refuses_tasks_with_arguments():
    with pytest.raises(ValueError, match="argument-less"):
        broker.send_task_soon("t.deliver", ("event-id",), coalesce=True)


@pytest.fixture
def private_queue(worker_id: str) -> Iterator[str]:
    name = f"carebook-test-broker-{worker_id}-{uuid.uuid4().hex[:8]}"
    yield name
    with celery_app.connection_for_write() as connection:
        Queue(name).bind(connection.default_channel).delete()


def queued_messages(queue_name: str) -> list:
    with celery_app.connection_for_write() as connection:
        bound = Queue(queue_name).bind(connection.default_channel)
        bound.declare()
        messages = []
        while (message := bound.get(no_ack=True)) is not None:
            messages.append(message)
        return messages


@pytest.mark.redis
def test_the_real_publisher_queues_messages_in_order_with_the_request_id(private_queue):
    # given a request context, when it asks for two publishes
    token = set_request_id("req-broker-0001")
    try:
        for n in (1, 2):
            broker.send_task_soon("carebook.test.probe", (n,), queue=private_queue)
    finally:
        reset_request_id(token)
    assert broker.wait_for_queued_publishes(timeout=10)
    # then both are on the queue, in order, and carry the request id for the worker's logs
    messages = queued_messages(private_queue)
    assert [m.headers["argsrepr"] for m in messages] == ["(1,)", "(2,)"]
    assert all("req-broker-0001" in str(m.headers) for m in messages)


@pytest.mark.redis
def test_an_unreachable_broker_costs_the_caller_nothing(monkeypatch, private_queue):
    # given the broker host refuses connections
    monkeypatch.setenv("CELERY_BROKER_URL", CLOSED_PORT_BROKER)
    # when a caller asks for a publish, then it returns at once
    started = time.monotonic()
    broker.send_task_soon("carebook.test.probe", (1,), queue=private_queue)
    assert time.monotonic() - started < 0.05
    # and the thread's attempt fails without raising (the sweeps make it good)
    assert broker.wait_for_queued_publishes(timeout=10)
    monkeypatch.delenv("CELERY_BROKER_URL")
    # and nothing reached the real broker's queue
    assert queued_messages(private_queue) == []
