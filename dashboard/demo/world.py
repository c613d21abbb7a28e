"""The order of the demo's parts. Each part adds only what is missing, so running it
again changes nothing, and running it on a later day brings the demo into the present:
past visits still booked are recorded first, then the new days are filled in.

The clinic's parts run in one transaction (all or nothing, and one commit instead of
hundreds: SQLite, the default database, syncs the disk at each); the jobs run outside it,
since the hospital import's service keeps its own durable transactions.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from dashboard.demo.ahead import ahead_seed
from dashboard.demo.chain import chain_seal_and_verify
from dashboard.demo.history import history_seed
from dashboard.demo.jobs import jobs_seed
from dashboard.demo.log import DemoLog
from dashboard.demo.people import Cast, cast_ensure
from dashboard.demo.refresh import refresh_past_visits
from dashboard.demo.today import today_seed
from dashboard.demo.waitlist import waitlist_seed


def demo_seed(write: Callable[[str], object]) -> tuple[Cast, int]:
    """Load or refresh the demo; returns the cast and how many things changed."""
    log = DemoLog(write)
    now = timezone.now()
    with transaction.atomic():
        cast = cast_ensure(log)
        refresh_past_visits(now=now, log=log)
        history_seed(cast, now=now, log=log)
        today_seed(cast, now=now, log=log)
        ahead_seed(cast, now=now, log=log)
    jobs_seed(cast, now=now, log=log)
    with transaction.atomic():
        waitlist_seed(cast, now=now, log=log)
    chain_seal_and_verify(log=log)
    return cast, log.changes
