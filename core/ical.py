"""iCalendar (RFC 5545) writing, domain-free: events in, ``text/calendar`` bytes out.

The ``icalendar`` library writes the lines: escaping (``,`` ``;`` ``\\`` and newlines in
text), folding at 75 octets and the UTC form of times (``20261207T100000Z``). Callers
(``scheduling.ical`` for one appointment, ``calendars`` for a feed) say what an event is;
this module only says how it is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//Carebook//Carebook calendar//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"
# How often a subscribed client should read a feed again (a hint; clients choose).
REFRESH_INTERVAL = timedelta(hours=1)


class Method:
    """iTIP methods (RFC 5546) of an .ics sent by email; a published feed has none."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


class EventStatus:
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class Person:
    """An ORGANIZER or ATTENDEE: an email address and the name shown."""

    email: str
    name: str = ""


@dataclass(frozen=True)
class IcsEvent:
    """One VEVENT. Times are aware datetimes, written in UTC to the second."""

    uid: str
    sequence: int
    start: datetime
    end: datetime
    stamp: datetime  # DTSTAMP
    created: datetime
    last_modified: datetime
    summary: str
    status: str = EventStatus.CONFIRMED
    description: str = ""
    location: str = ""
    url: str = ""
    organizer: Person | None = None
    attendees: tuple[Person, ...] = ()


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC, to the second (iCalendar has no fractions of a second)."""
    return moment.astimezone(UTC).replace(microsecond=0)


def _address(person: Person, **parameters: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    if person.name:
        address.params["CN"] = vText(person.name)
    for key, value in parameters.items():
        address.params[key] = value
    return address


def _vevent(event: IcsEvent) -> Event:
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", utc(event.stamp))
    vevent.add("created", utc(event.created))
    vevent.add("last-modified", utc(event.last_modified))
    vevent.add("dtstart", utc(event.start))
    vevent.add("dtend", utc(event.end))
    vevent.add("summary", event.summary)
    vevent.add("status", event.status)
    vevent.add("transp", "OPAQUE")
    for name, value in (
        ("description", event.description),
        ("location", event.location),
        ("url", event.url),
    ):
        if value:
            vevent.add(name, value)
    if event.organizer is not None:
        vevent.add("organizer", _address(event.organizer))
    for attendee in event.attendees:
        vevent.add("attendee", _address(attendee, ROLE="REQ-PARTICIPANT", PARTSTAT="ACCEPTED"))
    return vevent


def calendar_bytes(
    events: Iterable[IcsEvent], *, method: str | None = None, name: str = ""
) -> bytes:
    """A VCALENDAR of ``events``: with ``method`` an iTIP message for an email, without it
    a published feed (``name`` is the name a subscribing client shows)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    if name:
        calendar.add("name", name)  # RFC 7986
        calendar.add("x-wr-calname", name)  # what Apple and Google read
        calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", REFRESH_INTERVAL)
    for event in events:
        calendar.add_component(_vevent(event))
    return calendar.to_ical()
