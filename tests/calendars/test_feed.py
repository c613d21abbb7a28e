"""GET /calendar/{token}.ics: what a subscribed phone calendar reads."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from calendars.models import CalendarFeed
from calendars.selectors import feed_appointments
from scheduling.models import Appointment
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from tests.calendars.conftest import (
    appointment_at,
    events_of,
    feed_events,
    issue_feed,
    parse,
    read_feed,
    uid,
)
from tests.factories import DoctorFactory, HospitalFactory, PatientFactory, SlotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def doctor():
    return DoctorFactory(first_name="Dana", last_name="Doctor", time_zone="America/New_York")


@pytest.fixture
def patient():
    return PatientFactory(first_name="Priya", last_name="Patientname", time_zone="Europe/Paris")


def open_slot(doctor, days: int, hour: int = 10):
    start = (timezone.now() + timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    return SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))


def book(patient, doctor, days: int = 3, hour: int = 10) -> Appointment:
    return appointment_book(patient=patient, slot_id=open_slot(doctor, days, hour).pk)


def test_a_feed_is_text_calendar_with_one_event_per_appointment_in_utc(client_for, doctor, patient):
    # given two appointments of the doctor, one by video
    first = book(patient, doctor, days=3)
    second = appointment_at(
        doctor, PatientFactory(), timezone.now() + timedelta(days=5), mode="video"
    )
    path = issue_feed(client_for(doctor))

    # when the feed is read without any login
    response = read_feed(path)

    # then it is one VCALENDAR with one VEVENT each, times in UTC
    calendar = parse(response)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"])
    assert "METHOD" not in calendar  # a published feed, not an invitation
    events = events_of(calendar)
    assert set(events) == {uid(first), uid(second)}
    assert events[uid(first)]["start"] == first.start
    assert events[uid(first)]["start"].utcoffset() == timedelta(0)
    assert events[uid(first)]["end"] == first.end
    assert events[uid(first)]["sequence"] == 0
    assert events[uid(first)]["status"] == "CONFIRMED"
    assert b"DTSTART:" in response.content
    assert b"Z\r\n" in response.content
    assert events[uid(second)]["location"] == "Video visit"
    assert "(video)" in events[uid(second)]["summary"]


def test_uids_are_stable_and_sequence_rises_on_reschedule_and_cancel(client_for, doctor, patient):
    # given a booked appointment in a subscribed feed
    appointment = book(patient, doctor, days=3)
    path = issue_feed(client_for(patient))
    before = feed_events(path)[uid(appointment)]
    assert feed_events(path)[uid(appointment)] == before  # the same on every read

    # when it is rescheduled
    new_slot = open_slot(doctor, days=4, hour=11)
    appointment_reschedule(actor=patient, appointment_id=appointment.pk, new_slot_id=new_slot.pk)
    moved = feed_events(path)[uid(appointment)]

    # then the same UID carries the new time and a higher SEQUENCE
    assert moved["start"] == new_slot.start
    assert moved["sequence"] > before["sequence"]
    assert moved["last_modified"] >= before["last_modified"]

    # and when it is cancelled it stays, CANCELLED, with a higher SEQUENCE again
    appointment_cancel(actor=patient, appointment_id=appointment.pk, reason="ill")
    cancelled = feed_events(path)[uid(appointment)]
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["sequence"] > moved["sequence"]
    assert cancelled["summary"].startswith("Cancelled: ")


def test_a_cancelled_appointment_is_kept_30_days_after_its_cancellation(
    client_for, doctor, patient
):
    # given an appointment 60 days ahead, cancelled now
    appointment = book(patient, doctor, days=60)
    appointment_cancel(actor=patient, appointment_id=appointment.pk)
    path = issue_feed(client_for(doctor))
    assert feed_events(path)[uid(appointment)]["status"] == "CANCELLED"

    # when 29 days pass it is still there; after 31 days it is gone (its start is not)
    with time_machine.travel(timezone.now() + timedelta(days=29)):
        assert uid(appointment) in feed_events(path)
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert uid(appointment) not in feed_events(path)


def test_the_window_runs_from_30_days_back_to_the_booking_horizon(client_for, doctor, patient):
    # given appointments just inside and just outside both ends (horizon: 90 days)
    now = timezone.now()
    inside = [
        appointment_at(doctor, patient, now - timedelta(days=29)),
        appointment_at(doctor, patient, now + timedelta(days=89)),
    ]
    outside = [
        appointment_at(doctor, patient, now - timedelta(days=31)),
        appointment_at(doctor, patient, now + timedelta(days=91)),
    ]
    path = issue_feed(client_for(doctor))

    # then only the inside ones are in the feed
    uids = set(feed_events(path))
    assert uids == {uid(a) for a in inside}
    assert not uids & {uid(a) for a in outside}


def test_an_unchanged_feed_answers_304_and_a_change_changes_its_etag(client_for, doctor, patient):
    # given a read feed and its ETag
    appointment = book(patient, doctor)
    path = issue_feed(client_for(patient))
    first = read_feed(path)
    etag = first["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')

    # when it is read again with If-None-Match
    again = read_feed(path, if_none_match=etag)

    # then 304, no body, the same ETag
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert read_feed(path, if_none_match=f"W/{etag}").status_code == 304

    # and after a reschedule the old ETag no longer matches
    new_slot = open_slot(doctor, days=5)
    appointment_reschedule(actor=patient, appointment_id=appointment.pk, new_slot_id=new_slot.pk)
    changed = read_feed(path, if_none_match=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_a_clinician_feed_names_no_patient_and_no_reason_unless_turned_on(
    client_for, doctor, patient
):
    # given an appointment whose reason is clinical
    slot = open_slot(doctor, days=3)
    appointment = appointment_book(patient=patient, slot_id=slot.pk, reason="Chest pain, again")
    client = client_for(doctor)
    path = issue_feed(client)

    # then by default the feed has neither the patient's name nor the reason
    body = read_feed(path).content.decode()
    assert "Patientname" not in body
    assert "Priya" not in body
    assert "Chest pain" not in body
    assert feed_events(path)[uid(appointment)]["summary"] == "Appointment"
    assert not AuditEvent.objects.filter(action="appointment.read").exists()

    # when the clinician turns details on
    assert (
        client.patch(
            "/api/v1/me/calendar-feed/", {"include_details": True}, format="json"
        ).status_code
        == 200
    )

    # then the same URL shows them, and each appointment shown is an audited read
    event = feed_events(path)[uid(appointment)]
    assert event["summary"] == f"Appointment with {patient}"
    assert "Reason: Chest pain, again" in event["description"]
    read = AuditEvent.objects.get(action="appointment.read", object_id=str(appointment.pk))
    assert read.actor_id == doctor.pk
    assert read.metadata == {"surface": "calendar.feed", "patient_id": patient.pk}


def test_text_with_commas_semicolons_newlines_and_length_round_trips(client_for, doctor, patient):
    reason = "Follow-up; dose 5,5 mg\nback\\slash " + "long text " * 20
    slot = open_slot(doctor, days=3)
    appointment = appointment_book(patient=patient, slot_id=slot.pk, reason=reason)
    path = issue_feed(client_for(doctor), include_details=True)

    response = read_feed(path)

    assert all(len(line) <= 75 for line in response.content.split(b"\r\n"))
    assert f"Reason: {reason}" in feed_events(path)[uid(appointment)]["description"]


def test_a_patient_feed_has_only_their_own_appointments(client_for, doctor, patient):
    # given the patient's appointment and another patient's with the same doctor
    mine = book(patient, doctor, days=3)
    theirs = book(PatientFactory(), doctor, days=4)

    # when the patient reads their feed
    events = feed_events(issue_feed(client_for(patient)))

    # then only their own is there, naming the clinician
    assert set(events) == {uid(mine)}
    assert events[uid(mine)]["summary"] == f"Appointment with {doctor}"
    assert uid(theirs) not in events


def test_the_place_of_a_visit_and_the_video_link(client_for, doctor, patient):
    hospital = HospitalFactory(name="North Clinic", address="1 Main St", city="Lyon")
    in_person = appointment_at(
        doctor, patient, timezone.now() + timedelta(days=2), hospital=hospital
    )
    video = appointment_at(doctor, patient, timezone.now() + timedelta(days=3), mode="video")
    path = issue_feed(client_for(patient))

    with override_settings(CALENDAR_VIDEO_VISIT_URL="https://video.example/join"):
        events = feed_events(path)

    assert events[uid(in_person)]["location"].startswith("North Clinic, 1 Main St")
    assert events[uid(video)]["location"] == "Video visit"
    assert events[uid(video)]["url"] == "https://video.example/join"
    assert "https://video.example/join" in events[uid(video)]["description"]


def test_rotation_and_revocation_make_the_old_url_404(client_for, doctor):
    client = client_for(doctor)
    first = issue_feed(client)
    assert read_feed(first).status_code == 200

    # when the feed is rotated, the old URL is 404 and the new one works
    second = issue_feed(client)
    assert second != first
    assert read_feed(first).status_code == 404
    assert read_feed(second).status_code == 200

    # and after DELETE the new one is 404 too
    assert client.delete("/api/v1/me/calendar-feed/").status_code == 204
    assert read_feed(second).status_code == 404
    assert not CalendarFeed.objects.exists()


def test_unknown_rotated_and_malformed_tokens_get_the_same_404(client_for, doctor):
    client = client_for(doctor)
    rotated = issue_feed(client)
    issue_feed(client)
    paths = [rotated, "/calendar/" + "A" * 43 + ".ics", "/calendar/%00%ff;,.ics", "/calendar/x.ics"]

    answers = [read_feed(path) for path in paths]

    assert {a.status_code for a in answers} == {404}
    bodies = [a.json()["error"] for a in answers]
    assert {(b["code"], b["message"], str(b["details"])) for b in bodies} == {
        ("not_found", "Not found.", "{}")
    }
    assert {a["Content-Type"] for a in answers} == {"application/json"}


def test_a_feed_whose_owner_became_staff_shows_nothing(client_for, doctor, patient):
    # given a doctor's feed with a booking on it, and another doctor's booking
    path = issue_feed(client_for(doctor))
    book(patient, doctor, days=3)
    book(PatientFactory(), DoctorFactory(), days=4)
    assert len(feed_events(path)) == 1

    # when the doctor's account becomes staff (staff may read every appointment)
    doctor.role = Role.STAFF
    doctor.save()
    cache.clear()  # the feed body is cached per state of its window

    # then its URL answers 404, and what a feed would show of them is nothing, never the
    # clinic's appointments
    assert read_feed(path).status_code == 404
    assert not feed_appointments(doctor, now=timezone.now()).exists()


def test_a_deactivated_owner_feed_is_404(client_for, doctor):
    path = issue_feed(client_for(doctor))
    doctor.is_active = False
    doctor.save()
    assert read_feed(path).status_code == 404


@override_settings(CALENDAR_FEED_RATE="3/min")
def test_reads_of_one_token_are_rate_limited(client_for, doctor, patient):
    mine = issue_feed(client_for(doctor))
    other = issue_feed(client_for(patient))
    # the clock stands still mid-minute: the reads cannot straddle two windows
    with time_machine.travel(timezone.now().replace(second=20), tick=False):
        answers = [read_feed(mine).status_code for _ in range(4)]

        assert answers == [200, 200, 200, 429]
        refused = read_feed(mine)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "throttled"
        assert int(refused["Retry-After"]) == 40  # the rest of the minute
        assert refused.json()["error"]["details"]["retry_after_seconds"] == 40
        assert read_feed(other).status_code == 200  # counted per token
        # unknown tokens are counted the same way, so guessing is limited too
        unknown = "/calendar/" + "B" * 43 + ".ics"
        assert [read_feed(unknown).status_code for _ in range(4)] == [404, 404, 404, 429]
        # and a new window reads again
        with time_machine.travel(timezone.now() + timedelta(minutes=1)):
            assert read_feed(mine).status_code == 200


def test_other_methods_get_405_in_the_envelope_and_head_works(client_for, doctor):
    path = issue_feed(client_for(doctor))
    client = Client(enforce_csrf_checks=True)

    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(path)
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"
    assert client.head(path).status_code == 200
    assert read_feed(path).status_code == 200


def test_a_feed_url_is_private(client_for, doctor):
    response = read_feed(issue_feed(client_for(doctor)))
    assert "private" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_log_lines_never_carry_a_feed_token(client_for, doctor):
    from tests.observability.conftest import CapturedLines

    path = issue_feed(client_for(doctor))
    token = path.removeprefix("/calendar/").removesuffix(".ics")
    handler = CapturedLines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        read_feed(path, x_request_id="req-feed-0001")
        read_feed("/calendar/" + "C" * 43 + ".ics")
        logging.getLogger("django.request").error("Failed: %s", path)
    finally:
        root.removeHandler(handler)

    assert [line for line in handler.lines if "req-feed-0001" in line]
    assert "GET /calendar/<token>.ics" in "\n".join(handler.lines)
    assert not [line for line in handler.lines if token in line or "C" * 43 in line]


def test_a_feed_read_costs_the_same_queries_for_5_or_50_appointments(client_for, doctor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    path = issue_feed(client_for(doctor), include_details=True)
    now = timezone.now()

    def queries_of_a_read() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert read_feed(path).status_code == 200
        return len(captured)

    for day in range(5):
        appointment_at(doctor, PatientFactory(), now + timedelta(days=day + 1))
    few = queries_of_a_read()
    for day in range(5, 50):
        appointment_at(doctor, PatientFactory(), now + timedelta(days=day + 1, hours=1))
    many = queries_of_a_read()

    assert many == few  # the audited reads are one INSERT whatever their number
    assert len(feed_events(path)) == 50
