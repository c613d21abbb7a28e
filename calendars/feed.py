"""A feed's body and its validator: the VCALENDAR of the owner's appointments.

Writing events with the icalendar library costs about a millisecond each, and a busy
clinician's window holds hundreds of appointments that phones read every hour. So a
read first asks one cheap question (which appointments, at which SEQUENCE and last
change) and reuses the body written for that answer from the cache; an unchanged feed
answers 304 without writing anything. What the rows do not say (a person's name, a
hospital's address, ``CALENDAR_VIDEO_VISIT_URL``) reaches the feed within
``BODY_CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache

from calendars.models import CalendarFeed
from calendars.selectors import feed_appointments
from core.ical import calendar_bytes
from scheduling.ical import appointment_event
from scheduling.models import Appointment

FEED_NAME = "Carebook appointments"
BODY_CACHE_SECONDS = 600


@dataclass(frozen=True)
class FeedContent:
    body: bytes
    etag: str
    shown: list[tuple[int, int]]  # (appointment id, patient id) of each event


def feed_content(feed: CalendarFeed, *, now: datetime) -> FeedContent:
    """The feed as ``text/calendar`` bytes at ``now``, its ETag, and what it shows. The
    same rows give the same bytes (DTSTAMP is each appointment's last change, not the
    time of the read), so the ETag changes exactly when the feed does."""
    rows = list(
        feed_appointments(feed.owner, now=now).values_list(
            "pk", "patient_id", "sequence", "updated_at"
        )
    )
    version = hashlib.sha256(repr((feed.token_hash, feed.include_details, rows)).encode())
    key = f"calendar_feed_body:{feed.pk}:{version.hexdigest()}"
    body = cache.get(key)
    if not isinstance(body, bytes):
        body = _written(feed, [row[0] for row in rows])
        cache.set(key, body, BODY_CACHE_SECONDS)
    return FeedContent(body=body, etag=feed_etag(body), shown=[(row[0], row[1]) for row in rows])


def _written(feed: CalendarFeed, appointment_ids: list[int]) -> bytes:
    appointments = (
        Appointment.objects.filter(pk__in=appointment_ids)
        .select_related("slot__hospital", "clinician", "patient")
        .order_by("start", "pk")
    )
    events = (
        appointment_event(appointment, viewer=feed.owner, details=feed.include_details)
        for appointment in appointments
    )
    return calendar_bytes(events, name=FEED_NAME)


def feed_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
