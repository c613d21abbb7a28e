"""Helpers of the calendar feed tests: issue a feed through the API, read it as a phone
would (no login), parse it with the icalendar library."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from icalendar import Calendar

from scheduling.models import Appointment, Slot
from tests.factories import AppointmentFactory, SlotFactory

FEED_API = "/api/v1/me/calendar-feed/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Feed reads are counted in the cache (the rate limit): each test starts at zero."""
    cache.clear()
    yield
    cache.clear()


def issue_feed(client, **body) -> str:
    """POST me/calendar-feed/ and return the feed's path (``/calendar/<token>.ics``)."""
    response = client.post(FEED_API, body, format="json")
    assert response.status_code == 201, response.content
    url = response.json()["url"]
    assert url.startswith("http://testserver/calendar/")
    return urlsplit(url).path


def read_feed(path: str, **headers):
    return Client().get(path, headers=headers)


def parse(response) -> Calendar:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def events_of(calendar: Calendar) -> dict[str, dict]:
    """``{uid: {property: value}}`` of the calendar's VEVENTs."""
    found = {}
    for event in calendar.walk("VEVENT"):
        found[str(event["UID"])] = {
            "sequence": int(str(event["SEQUENCE"])),
            "status": str(event["STATUS"]),
            "start": event.decoded("DTSTART"),
            "end": event.decoded("DTEND"),
            "summary": str(event["SUMMARY"]),
            "description": str(event.get("DESCRIPTION", "")),
            "location": str(event.get("LOCATION", "")),
            "url": str(event.get("URL", "")),
            "dtstamp": event.decoded("DTSTAMP"),
            "last_modified": event.decoded("LAST-MODIFIED"),
        }
    return found


def feed_events(path: str) -> dict[str, dict]:
    return events_of(parse(read_feed(path)))


def uid(appointment: Appointment) -> str:
    return f"appointment-{appointment.pk}@carebook.example"


def appointment_at(clinician, patient, start: datetime, **fields) -> Appointment:
    """A booked appointment row at ``start`` (past or far ahead: no booking rule applies)."""
    slot = SlotFactory(
        clinician=clinician,
        start=start,
        end=start + timedelta(minutes=30),
        status=Slot.Status.BOOKED,
        seats_taken=1,
        **{k: fields.pop(k) for k in ("mode", "hospital") if k in fields},
    )
    return cast(Appointment, AppointmentFactory(slot=slot, patient=patient, **fields))
