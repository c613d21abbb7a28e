"""The whole path with real parts: a patient books, moves and cancels through the API;
a real Celery worker on Redis delivers the outbox events and sends the emails (Django's
locmem backend, shared with the worker's thread); each email's .ics and the feed agree."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from icalendar import Calendar

from tests.calendars.conftest import feed_events, issue_feed
from tests.core.test_outbox_worker import private_queue, worker  # noqa: F401
from tests.factories import DoctorFactory, PatientFactory, SlotFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def open_slot(doctor, days: int):
    start = (timezone.now() + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    return SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))


def emails_to(address: str, count: int, timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mail.outbox if m.to == [address]]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def ics_of(message) -> Calendar:
    (part,) = [p for p in message.message().walk() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_payload(decode=True))


def test_the_worker_sends_invitations_that_match_the_feed(worker, client_for):  # noqa: F811
    # given a patient with a feed and the patient's app
    patient, doctor = PatientFactory(), DoctorFactory()
    app = client_for(patient)
    path = issue_feed(app)
    mail.outbox.clear()

    # when they book, move and cancel through the API
    booked = app.post(
        "/api/v1/appointments/",
        {"slot": open_slot(doctor, 3).pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert booked.status_code == 201, booked.content
    appointment_id = booked.json()["id"]
    assert len(emails_to(patient.email, 1)) == 1  # each step is mailed before the next
    moved = app.post(
        f"/api/v1/appointments/{appointment_id}/reschedule/",
        {"slot": open_slot(doctor, 4).pk},
        format="json",
    )
    assert moved.status_code == 200, moved.content
    assert len(emails_to(patient.email, 2)) == 2
    cancelled = app.post(
        f"/api/v1/appointments/{appointment_id}/cancel/", {"reason": "ill"}, format="json"
    )
    assert cancelled.status_code == 200, cancelled.content

    # then the worker sent the patient three invitations: REQUEST, REQUEST, CANCEL
    messages = emails_to(patient.email, 3)
    calendars = [ics_of(m) for m in messages]
    assert [str(c["METHOD"]) for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    events = [c.walk("VEVENT")[0] for c in calendars]
    expected_uid = f"appointment-{appointment_id}@carebook.example"
    assert {str(e["UID"]) for e in events} == {expected_uid}
    sequences = [int(str(e["SEQUENCE"])) for e in events]
    assert sequences == sorted(set(sequences))  # strictly rising
    # and the feed shows the same event at the last email's SEQUENCE, cancelled
    in_feed = feed_events(path)[expected_uid]
    assert in_feed["status"] == "CANCELLED"
    assert in_feed["sequence"] == sequences[-1]
