"""One appointment as an iCalendar event, for a calendar feed and for the .ics of its
emails: the same UID and SEQUENCE everywhere, so a phone matches an emailed invitation
and a feed entry as one event.

What an event shows depends on whose calendar it goes into. A patient sees whom they see,
where and when. A clinician's calendar (a phone is not a clinical record) shows neither
the patient's name nor the reason unless ``details`` is asked for; a patient's shows their
own reason only with ``details``.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from typing import NamedTuple

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from core.ical import EventStatus, IcsEvent, Method, Person, calendar_bytes
from scheduling.models import Appointment, Mode

VIDEO_VISIT = "Video visit"


def appointment_uid(appointment: Appointment) -> str:
    """Stable for the appointment's life, whatever moves (``CALENDAR_UID_DOMAIN``)."""
    return f"appointment-{appointment.pk}@{settings.CALENDAR_UID_DOMAIN}"


def _summary(appointment: Appointment, viewer: User, details: bool) -> str:
    if viewer.pk == appointment.patient_id:
        text = f"Appointment with {appointment.clinician}"
    elif details:
        text = f"Appointment with {appointment.patient}"
    else:
        text = "Appointment"
    if appointment.slot.mode == Mode.VIDEO:
        text = f"{text} (video)"
    if appointment.status == Appointment.Status.CANCELLED:
        text = f"Cancelled: {text}"
    return text


def _location(appointment: Appointment) -> str:
    if appointment.slot.mode == Mode.VIDEO:
        return VIDEO_VISIT
    hospital = appointment.slot.hospital
    if hospital is None:
        return ""
    place = " ".join(part for part in (hospital.postal_code, hospital.city) if part)
    return ", ".join(part for part in (hospital.name, hospital.address, place) if part)


def _description(appointment: Appointment, details: bool, url: str) -> str:
    lines = []
    if url:
        lines.append(f"Join the video visit: {url}")
    if details and appointment.reason:
        lines.append(f"Reason: {appointment.reason}")
    return "\n".join(lines)


def appointment_event(
    appointment: Appointment,
    *,
    viewer: User,
    details: bool = False,
    stamp: datetime | None = None,
    organizer: Person | None = None,
    attendees: tuple[Person, ...] = (),
) -> IcsEvent:
    """The appointment as ``viewer`` (its patient or clinician) sees it. ``stamp`` is the
    DTSTAMP: an email's sending time; a feed's default, the last change (RFC 5545 for an
    object without METHOD), keeps an unchanged feed byte for byte the same.

    Reads ``appointment.slot`` (and its hospital), ``clinician`` and ``patient``: load
    them with the appointment."""
    url = settings.CALENDAR_VIDEO_VISIT_URL if appointment.slot.mode == Mode.VIDEO else ""
    cancelled = appointment.status == Appointment.Status.CANCELLED
    return IcsEvent(
        uid=appointment_uid(appointment),
        sequence=appointment.sequence,
        start=appointment.start,
        end=appointment.end,
        stamp=stamp or appointment.updated_at,
        created=appointment.created_at,
        last_modified=appointment.updated_at,
        summary=_summary(appointment, viewer, details),
        status=EventStatus.CANCELLED if cancelled else EventStatus.CONFIRMED,
        description=_description(appointment, details, url),
        location=_location(appointment),
        url=url,
        organizer=organizer,
        attendees=attendees,
    )


class Invitation(NamedTuple):
    method: str  # what the VCALENDAR says, for the MIME part's ``method`` parameter
    content: bytes


def appointment_invitation(appointment: Appointment, *, recipient: User, method: str) -> Invitation:
    """The .ics of an appointment email to ``recipient``: ``METHOD:REQUEST`` (booked,
    moved) or ``CANCEL``. A REQUEST for an appointment cancelled since is sent as CANCEL:
    a late confirmation must never put a cancelled visit back into a calendar.

    The organizer is the clinic's sending address; the one attendee is the recipient
    (never the other party: a clinician's calendar names no patient)."""
    if appointment.status == Appointment.Status.CANCELLED:
        method = Method.CANCEL
    name, email = parseaddr(settings.DEFAULT_FROM_EMAIL)
    event = appointment_event(
        appointment,
        viewer=recipient,
        stamp=timezone.now(),
        organizer=Person(email=email, name=name or "Carebook"),
        attendees=(Person(email=recipient.email, name=str(recipient)),),
    )
    return Invitation(method, calendar_bytes([event], method=method))
