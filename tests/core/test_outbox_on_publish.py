"""core.outbox.on_publish: handlers that run inside event_publish, in its transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.models import Hospital
from core.models import OutboxEvent
from core.outbox import event_publish, on_publish, outbox_event_deliver, unsubscribe

pytestmark = pytest.mark.django_db

EVENT = "test.hospital_opened"


@pytest.fixture
def hospital_on_publish():
    """An on-publish handler that creates one hospital per publish (countable)."""
    calls: list[str] = []

    @on_publish(EVENT, name="test-on-publish")
    def create_hospital(event: OutboxEvent) -> None:
        calls.append(str(event.id))
        Hospital.objects.create(code=f"OP-{str(event.id)[:8]}", name=event.payload["name"])

    yield calls
    unsubscribe(EVENT, "test-on-publish")


class _Abort(Exception):
    pass


def _publish_then_fail() -> None:
    with transaction.atomic():
        event_publish(name=EVENT, payload={"name": "Clinic B"})
        raise _Abort


def test_the_handler_writes_with_the_publish_and_never_again_on_delivery(hospital_on_publish):
    # given a registered on-publish handler; when the event is published
    with transaction.atomic():
        event = event_publish(name=EVENT, payload={"name": "Clinic A"})
        # then its write is already there, inside the publisher's transaction
        assert Hospital.objects.filter(name="Clinic A").count() == 1
    # and delivering the event does not run it again
    outbox_event_deliver(event_id=event.id)
    assert hospital_on_publish == [str(event.id)]
    assert Hospital.objects.filter(name="Clinic A").count() == 1


def test_a_rolled_back_publisher_takes_the_handlers_writes_with_it(hospital_on_publish):
    # given a publisher whose transaction fails after publishing
    with pytest.raises(_Abort):
        _publish_then_fail()
    # then neither the event nor the handler's row exists
    assert not Hospital.objects.filter(name="Clinic B").exists()
    assert not OutboxEvent.objects.filter(name=EVENT).exists()


def test_a_name_is_one_handler(hospital_on_publish):
    # given a handler named "test-on-publish"; when another registers under that name
    with pytest.raises(ValueError, match="test-on-publish"):

        @on_publish(EVENT, name="test-on-publish")
        def other(event: OutboxEvent) -> None: ...
