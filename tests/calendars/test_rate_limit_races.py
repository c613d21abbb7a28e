"""The per-token rate limit under concurrent reads: the cache's atomic increment lets
exactly the allowed number through, whatever the interleaving."""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from tests.calendars.conftest import issue_feed, read_feed
from tests.factories import DoctorFactory

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(CALENDAR_FEED_RATE="5/hour")
def test_twelve_concurrent_reads_of_a_5_per_hour_feed_let_exactly_5_through(client_for):
    path = issue_feed(client_for(DoctorFactory()))
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def read() -> None:
        try:
            barrier.wait()
            statuses.append(read_feed(path).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(12)]
    # the clock stands still mid-hour: the reads cannot straddle two windows
    with time_machine.travel(timezone.now().replace(minute=30), tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert sorted(statuses) == [200] * 5 + [429] * 7
