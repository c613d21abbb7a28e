"""The .ics of appointment emails: the same UID and SEQUENCE as the feed, REQUEST for a
booking or a move, CANCEL for a cancellation (read from Django's locmem outbox)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone
from icalendar import Calendar

from core.models import OutboxEvent
from core.outbox import outbox_event_deliver
from notifications.services import notifications_send_due_reminders
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from tests.calendars.conftest import feed_events, issue_feed, uid
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, SlotFactory

pytestmark = pytest.mark.django_db


def deliver(name: str) -> None:
    """What the outbox's delivery does after the booking commits (emails included)."""
    event = OutboxEvent.objects.filter(name=name).latest("created_at")
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        outbox_event_deliver(event_id=event.id)


def invitation_to(email: str) -> tuple[str, Calendar]:
    """The ``text/calendar`` part of the one email sent to ``email``: its MIME ``method``
    parameter and the parsed calendar."""
    (message,) = [m for m in mail.outbox if m.to == [email]]
    parts = [p for p in message.message().walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    part = parts[0]
    assert part.get_filename() == "invite.ics"
    return str(part.get_param("method")), Calendar.from_ical(part.get_payload(decode=True))


def the_event(calendar: Calendar):
    (event,) = calendar.walk("VEVENT")
    return event


def open_slot(doctor, days: int):
    start = (timezone.now() + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    return SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))


@pytest.fixture
def people():
    return (
        PatientFactory(first_name="Priya", last_name="Patientname"),
        DoctorFactory(first_name="Dana", last_name="Doctor"),
    )


def test_booking_move_and_cancellation_emails_carry_matching_ics(client_for, people):
    patient, doctor = people
    feed = issue_feed(client_for(patient))

    # when the appointment is booked
    appointment = appointment_book(patient=patient, slot_id=open_slot(doctor, 3).pk)
    deliver("appointment.scheduled")
    mime_method, booked = invitation_to(patient.email)

    # then the patient's email has a REQUEST with the feed's UID and SEQUENCE
    assert mime_method == "REQUEST"
    assert str(booked["METHOD"]) == "REQUEST"
    event = the_event(booked)
    in_feed = feed_events(feed)[uid(appointment)]
    assert str(event["UID"]) == uid(appointment)
    assert int(event["SEQUENCE"]) == in_feed["sequence"]
    assert event.decoded("DTSTART") == appointment.start
    assert str(event["ORGANIZER"]).startswith("mailto:")
    assert str(event["ATTENDEE"]) == f"mailto:{patient.email}"

    # when it is moved: a REQUEST again, same UID, higher SEQUENCE, the new time
    new_slot = open_slot(doctor, 4)
    appointment_reschedule(actor=patient, appointment_id=appointment.pk, new_slot_id=new_slot.pk)
    deliver("appointment.rescheduled")
    _, moved = invitation_to(patient.email)
    moved_event = the_event(moved)
    assert str(moved["METHOD"]) == "REQUEST"
    assert str(moved_event["UID"]) == uid(appointment)
    assert int(moved_event["SEQUENCE"]) > int(event["SEQUENCE"])
    assert moved_event.decoded("DTSTART") == new_slot.start
    assert int(moved_event["SEQUENCE"]) == feed_events(feed)[uid(appointment)]["sequence"]

    # when it is cancelled: a CANCEL, same UID, higher SEQUENCE, STATUS:CANCELLED
    appointment_cancel(actor=patient, appointment_id=appointment.pk)
    deliver("appointment.cancelled")
    mime_method, cancelled = invitation_to(patient.email)
    cancelled_event = the_event(cancelled)
    assert mime_method == "CANCEL"
    assert str(cancelled["METHOD"]) == "CANCEL"
    assert str(cancelled_event["UID"]) == uid(appointment)
    assert str(cancelled_event["STATUS"]) == "CANCELLED"
    assert int(cancelled_event["SEQUENCE"]) > int(moved_event["SEQUENCE"])
    assert int(cancelled_event["SEQUENCE"]) == feed_events(feed)[uid(appointment)]["sequence"]


def test_the_clinicians_ics_names_no_patient(people):
    patient, doctor = people
    appointment_book(patient=patient, slot_id=open_slot(doctor, 3).pk, reason="Back pain")

    deliver("appointment.scheduled")

    _, calendar = invitation_to(doctor.email)
    text = calendar.to_ical().decode()
    assert "Patientname" not in text
    assert "Back pain" not in text
    assert patient.email not in text
    assert str(the_event(calendar)["SUMMARY"]) == "Appointment"
    _, patients = invitation_to(patient.email)
    assert str(the_event(patients)["SUMMARY"]) == f"Appointment with {doctor}"


def test_a_late_confirmation_of_a_cancelled_appointment_carries_a_cancel(people):
    # given a booking whose confirmation is only sent after it was cancelled
    patient, doctor = people
    appointment = appointment_book(patient=patient, slot_id=open_slot(doctor, 3).pk)
    appointment_cancel(actor=patient, appointment_id=appointment.pk)

    deliver("appointment.scheduled")

    # then the invitation withdraws it instead of putting it back in a calendar
    mime_method, calendar = invitation_to(patient.email)
    assert mime_method == "CANCEL"
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(the_event(calendar)["STATUS"]) == "CANCELLED"


def test_other_emails_carry_no_ics(people):
    patient, doctor = people
    start = timezone.now() + timedelta(hours=20)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    appointment = AppointmentFactory(slot=slot, patient=patient)
    appointment.created_at = start - timedelta(days=3)
    appointment.save(update_fields=["created_at"])
    mail.outbox.clear()

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert notifications_send_due_reminders() == 2

    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert not [p for p in message.message().walk() if "calendar" in p.get_content_type()]
