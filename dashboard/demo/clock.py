"""The demo's controlled clock: the services write history as of a moment in the past.

Every service reads the time through ``django.utils.timezone.now()`` (slot windows, the
booking policy, the lifecycle's "has it started", ``auto_now`` columns, the times a
service stamps: ``started_at``, ``completed_at``, ``cancelled_at``). Inside
``clock_at(moment)`` that function answers ``moment``, so a visit eight weeks ago is
booked, started, noted and completed through the same services and checks, with the same
audit rows and events, as one today, and its records are dated in the story.

The audit trail is never backdated: ``AuditEvent.occurred_at`` and the outbox's
``created_at`` default to the function object Django's clock had when the models were
defined, so they keep the real time of the write (the rows say "written by the demo load
at ..."). Nothing else in the process may run meanwhile:
``seed_demo`` is a command of its own (the browser tests call it before their live
server gets a request).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone


@contextmanager
def clock_at(moment: datetime) -> Iterator[datetime]:
    """Django's clock reads ``moment`` (aware) inside the block, the real time after."""
    if timezone.is_naive(moment):
        raise ValueError("The demo clock needs an aware datetime.")
    real_now = timezone.now
    timezone.now = lambda: moment
    try:
        yield moment
    finally:
        timezone.now = real_now


def real_now() -> datetime:
    return timezone.now()
