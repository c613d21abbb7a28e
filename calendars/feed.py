"""A feed's body and its validator: the VCALENDAR of the owner's appointments."""

from __future__ import annotations

import hashlib
from datetime import datetime

from calendars.models import CalendarFeed
from calendars.selectors import feed_appointments
from core.ical import calendar_bytes
from scheduling.ical import appointment_event
from scheduling.models import Appointment

FEED_NAME = "Carebook appointments"


def feed_body(feed: CalendarFeed, *, now: datetime) -> tuple[bytes, list[Appointment]]:
    """The feed as ``text/calendar`` bytes, and the appointments it shows. The same rows
    give the same bytes (DTSTAMP is each appointment's last change, not the time of the
    read), so the ETag changes exactly when the feed does."""
    appointments = list(feed_appointments(feed.owner, now=now))
    events = (
        appointment_event(appointment, viewer=feed.owner, details=feed.include_details)
        for appointment in appointments
    )
    return calendar_bytes(events, name=FEED_NAME), appointments


def feed_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
