"""Notification preferences: the API, quiet hours on the recipient's own clock (DST
included), and reminders that honour both (held until the quiet hours end, or skipped)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.test import TestCase
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from audit.models import AuditEvent
from notifications.models import Notification, NotificationPreference
from notifications.selectors import in_quiet_hours, quiet_hours_end
from notifications.services import notifications_retry_failed, notifications_send_due_reminders
from scheduling.models import Appointment
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, SlotFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
URL = "/api/v1/me/notification-preferences/"
Status = Notification.Status


def berlin(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def after_commit():
    return TestCase.captureOnCommitCallbacks(execute=True)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def quiet(user, start: str | None = "21:00", end: str | None = "08:00", email: bool = True):
    return NotificationPreference.objects.create(
        user=user,
        email=email,
        quiet_start=time.fromisoformat(start) if start else None,
        quiet_end=time.fromisoformat(end) if end else None,
    )


def reminder_for(patient, start: datetime) -> Any:
    slot = SlotFactory(start=start, end=start + timedelta(minutes=30), status="booked")
    appointment: Any = AppointmentFactory(slot=slot, patient=patient, clinician=slot.clinician)
    Appointment.objects.filter(pk=appointment.pk).update(created_at=start - timedelta(days=3))
    return appointment


# --- quiet hours, on the user's wall clock -------------------------------------------------


def test_quiet_hours_crossing_midnight_on_the_users_own_clock():
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "21:00", "08:00")
    assert in_quiet_hours(patient, berlin(2027, 1, 14, 23, 0))
    assert in_quiet_hours(patient, berlin(2027, 1, 15, 7, 59))
    assert in_quiet_hours(patient, berlin(2027, 1, 14, 21, 0))  # start included
    assert not in_quiet_hours(patient, berlin(2027, 1, 15, 8, 0))  # end excluded
    assert not in_quiet_hours(patient, berlin(2027, 1, 15, 12, 0))
    # 21:30 UTC is 22:30 in Berlin (quiet) whatever zone the moment is given in
    assert in_quiet_hours(patient, datetime(2027, 1, 14, 21, 30, tzinfo=UTC))


def test_a_window_within_one_day_and_no_window():
    patient = PatientFactory(time_zone="Europe/Berlin")
    assert not in_quiet_hours(patient, berlin(2027, 1, 14, 23, 0))  # no row: never quiet
    assert quiet_hours_end(patient, berlin(2027, 1, 14, 23, 0)) is None
    quiet(patient, "12:00", "14:00")
    assert in_quiet_hours(patient, berlin(2027, 1, 14, 13, 0))
    assert not in_quiet_hours(patient, berlin(2027, 1, 14, 23, 0))
    assert quiet_hours_end(patient, berlin(2027, 1, 14, 13, 0)) == berlin(2027, 1, 14, 14, 0)


@pytest.mark.parametrize(
    ("at", "expected_utc"),
    [
        # the night the clocks go forward (28 March 2027): 23:00 CET -> 08:00 CEST = 06:00 UTC
        (berlin(2027, 3, 27, 23, 0), datetime(2027, 3, 28, 6, 0, tzinfo=UTC)),
        # the night they go back (31 October 2027): 23:00 CEST -> 08:00 CET = 07:00 UTC
        (berlin(2027, 10, 30, 23, 0), datetime(2027, 10, 31, 7, 0, tzinfo=UTC)),
        # after midnight already: ends the same morning
        (berlin(2027, 1, 15, 3, 0), datetime(2027, 1, 15, 7, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_end_at_local_eight_across_dst(at, expected_utc):
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "21:00", "08:00")
    end = quiet_hours_end(patient, at)
    assert end == expected_utc
    assert end is not None
    assert end.astimezone(BERLIN).hour == 8


def test_an_end_inside_the_spring_gap_is_read_before_the_change():
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "01:00", "02:30")  # 02:30 does not exist on 28 March 2027 in Berlin
    end = quiet_hours_end(patient, berlin(2027, 3, 28, 1, 30))
    assert end == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST


# --- reminders honour them -------------------------------------------------------------


def test_a_reminder_due_in_quiet_hours_is_sent_when_they_end_not_before():
    # given a Berlin patient with quiet hours 21:00-08:00 and an appointment tomorrow evening
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "21:00", "08:00")
    appointment = reminder_for(patient, berlin(2027, 1, 15, 20, 0))
    doctor = appointment.clinician

    # when the reminder falls due at 23:00 patient-local
    with time_machine.travel(berlin(2027, 1, 14, 23, 0), tick=False), after_commit():
        assert notifications_send_due_reminders() == 2

    # then the clinician (no quiet hours) has theirs; the patient's is held until 08:00
    assert [m.to[0] for m in mail.outbox] == [doctor.email]
    held = Notification.objects.get(recipient=patient)
    assert held.status == Status.PENDING
    assert held.not_before == berlin(2027, 1, 15, 8, 0)

    # and the sweep (and a direct send) before 08:00 local sends nothing
    for moment in (berlin(2027, 1, 15, 0, 30), berlin(2027, 1, 15, 7, 59)):
        with time_machine.travel(moment, tick=False), after_commit():
            notifications_retry_failed()
            notifications_send_due_reminders()
    assert len(mail.outbox) == 1
    assert Notification.objects.get(pk=held.pk).status == Status.PENDING

    # when the sweep runs at 08:00 local, it goes out, once
    with time_machine.travel(berlin(2027, 1, 15, 8, 0), tick=False), after_commit():
        assert notifications_retry_failed() == 1
    with time_machine.travel(berlin(2027, 1, 15, 8, 1), tick=False), after_commit():
        assert notifications_retry_failed() == 0
    assert [m.to[0] for m in mail.outbox] == [doctor.email, patient.email]
    sent = Notification.objects.get(pk=held.pk)
    assert sent.status == Status.SENT
    assert sent.sent_at == berlin(2027, 1, 15, 8, 0)


def test_a_reminder_outside_quiet_hours_goes_at_once():
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "21:00", "08:00")
    reminder_for(patient, berlin(2027, 1, 16, 10, 0))
    with time_machine.travel(berlin(2027, 1, 15, 10, 30), tick=False), after_commit():
        notifications_send_due_reminders()
    assert patient.email in [m.to[0] for m in mail.outbox]
    assert Notification.objects.get(recipient=patient).not_before is None


def test_email_off_records_the_reminder_as_skipped_and_sends_nothing():
    # given a patient who turned email off
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, None, None, email=False)
    appointment = reminder_for(patient, berlin(2027, 1, 15, 12, 0))

    # when the reminder falls due, and the sweep runs later
    with time_machine.travel(berlin(2027, 1, 14, 13, 0), tick=False), after_commit():
        notifications_send_due_reminders()
    with time_machine.travel(berlin(2027, 1, 14, 18, 0), tick=False), after_commit():
        notifications_retry_failed()
        notifications_send_due_reminders()

    # then only the clinician was mailed; the patient's row says why it was not sent
    assert [m.to[0] for m in mail.outbox] == [appointment.clinician.email]
    skipped = Notification.objects.get(recipient=patient)
    assert skipped.status == Status.SKIPPED
    assert skipped.sent_at is None
    assert skipped.attempts == 0


def test_booking_confirmations_ignore_preferences():
    """Only reminders (HONOURS_PREFERENCES) wait or are dropped; a booking is always told."""
    from scheduling.services import appointment_book

    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "00:00", "23:59", email=False)
    doctor = DoctorFactory()
    start = berlin(2027, 1, 20, 10, 0)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    with time_machine.travel(berlin(2027, 1, 14, 12, 0), tick=False):
        appointment_book(patient=patient, slot_id=slot.pk)
        from core.models import OutboxEvent
        from core.outbox import outbox_event_deliver

        event = OutboxEvent.objects.filter(name="appointment.scheduled").latest("created_at")
        with after_commit():
            outbox_event_deliver(event_id=event.id)
    assert patient.email in [m.to[0] for m in mail.outbox]


# --- the API -----------------------------------------------------------------------------


def test_defaults_without_a_row():
    patient = PatientFactory()
    response = client_for(patient).get(URL)
    assert response.status_code == 200
    assert response.json() == {"email": True, "quiet_hours": None}
    assert not NotificationPreference.objects.exists()


def test_patch_sets_reads_back_clears_and_is_audited():
    patient = PatientFactory()
    client = client_for(patient)

    response = client.patch(
        URL, {"email": False, "quiet_hours": {"start": "21:00", "end": "08:00"}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"email": False, "quiet_hours": {"start": "21:00", "end": "08:00"}}
    assert client.get(URL).json() == response.json()
    row = AuditEvent.objects.get(action="notification_preferences.update")
    assert row.actor_id == patient.pk
    assert set(row.changes) == {"email", "quiet_start", "quiet_end"}

    # a partial update keeps the rest; null clears the quiet hours
    assert client.patch(URL, {"email": True}, format="json").json() == {
        "email": True,
        "quiet_hours": {"start": "21:00", "end": "08:00"},
    }
    assert client.patch(URL, {"quiet_hours": None}, format="json").json() == {
        "email": True,
        "quiet_hours": None,
    }
    pref = NotificationPreference.objects.get(user=patient)
    assert (pref.quiet_start, pref.quiet_end) == (None, None)
    # an unchanged PATCH writes no audit row
    count = AuditEvent.objects.filter(action="notification_preferences.update").count()
    client.patch(URL, {"quiet_hours": None}, format="json")
    assert AuditEvent.objects.filter(action="notification_preferences.update").count() == count


def test_each_user_sees_only_their_own():
    first, second = PatientFactory(), DoctorFactory()
    client_for(first).patch(URL, {"email": False}, format="json")
    assert client_for(second).get(URL).json() == {"email": True, "quiet_hours": None}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "false"},
        {"email": 0},
        {"email": None},
        {"sms": True},
        {"email": True, "extra": 1},
        {"quiet_hours": {"start": "25:00", "end": "08:00"}},
        {"quiet_hours": {"start": "21:00", "end": "8:00"}},
        {"quiet_hours": {"start": "21:00", "end": "08:60"}},
        {"quiet_hours": {"start": "21:00:00", "end": "08:00"}},
        {"quiet_hours": {"start": "21:00", "end": "21:00"}},
        {"quiet_hours": {"start": "21:00"}},
        {"quiet_hours": {"start": 21, "end": 8}},
        {"quiet_hours": {"start": "21:00", "end": "08:00", "tz": "UTC"}},
        {"quiet_hours": "21:00-08:00"},
        {"quiet_hours": []},
        [],
        "email",
        ["email", True],
    ],
)
def test_bad_input_is_a_400_in_the_envelope_and_changes_nothing(body):
    patient = PatientFactory()
    quiet(patient, "22:00", "07:00")
    response = client_for(patient).patch(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"]
    pref = NotificationPreference.objects.get(user=patient)
    assert (pref.email, pref.quiet_start, pref.quiet_end) == (True, time(22), time(7))
    assert not AuditEvent.objects.filter(action="notification_preferences.update").exists()


def test_malformed_json_and_anonymous():
    patient = PatientFactory()
    response = client_for(patient).patch(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()
    assert APIClient().get(URL).status_code == 401
    assert APIClient().patch(URL, {"email": False}, format="json").status_code == 401


# --- the database and the back office ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("start", "end"), [(time(21), time(21)), (time(21), None), (None, time(8))]
)
def test_the_database_refuses_an_empty_or_half_window(start, end):
    from django.db import IntegrityError, transaction

    patient = PatientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        NotificationPreference.objects.create(user=patient, quiet_start=start, quiet_end=end)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_patches_make_one_row_and_no_500():
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connection

    patient = PatientFactory()
    barrier = Barrier(6)

    def patch(index: int) -> int:
        try:
            barrier.wait(timeout=10)
            body = {"email": index % 2 == 0, "quiet_hours": {"start": "21:00", "end": "08:00"}}
            return client_for(patient).patch(URL, body, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = [future.result(timeout=30) for future in [pool.submit(patch, i) for i in range(6)]]

    assert codes == [200] * 6
    assert NotificationPreference.objects.filter(user=patient).count() == 1


def test_staff_see_preferences_and_held_messages_read_only(client):
    from tests.factories import StaffFactory

    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "21:00", "08:00")
    reminder_for(patient, berlin(2027, 1, 15, 20, 0))
    with time_machine.travel(berlin(2027, 1, 14, 23, 0), tick=False), after_commit():
        notifications_send_due_reminders()
    client.force_login(StaffFactory(is_superuser=True))

    preferences = client.get("/admin/notifications/notificationpreference/")
    messages = client.get("/admin/notifications/notification/?status__exact=pending")
    add = client.get("/admin/notifications/notificationpreference/add/")

    assert preferences.status_code == 200
    assert preferences.context["cl"].result_count == 1
    assert messages.context["cl"].result_count == 1
    assert add.status_code == 403


def test_preferences_are_read_again_when_a_held_reminder_is_sent():
    # given a reminder held for the patient's quiet hours
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "21:00", "08:00")
    reminder_for(patient, berlin(2027, 1, 15, 20, 0))
    with time_machine.travel(berlin(2027, 1, 14, 23, 0), tick=False), after_commit():
        notifications_send_due_reminders()
    held = Notification.objects.get(recipient=patient)

    # when, before it is due, they turn email off, and the sweep runs at 08:00
    with time_machine.travel(berlin(2027, 1, 15, 6, 0), tick=False):
        client_for(patient).patch(URL, {"email": False}, format="json")
    with time_machine.travel(berlin(2027, 1, 15, 8, 0), tick=False), after_commit():
        notifications_retry_failed()

    # then it is skipped, never sent
    assert patient.email not in [m.to[0] for m in mail.outbox]
    assert Notification.objects.get(pk=held.pk).status == Status.SKIPPED


def test_a_retry_falling_in_quiet_hours_waits_for_their_end():
    # given a reminder whose first send failed in the afternoon
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "21:00", "08:00")
    reminder_for(patient, berlin(2027, 1, 16, 10, 0))
    with time_machine.travel(berlin(2027, 1, 15, 15, 0), tick=False):
        with after_commit():
            notifications_send_due_reminders()
        failed = Notification.objects.get(recipient=patient)
    Notification.objects.filter(pk=failed.pk).update(status=Status.FAILED, sent_at=None)
    mail.outbox.clear()

    # when the sweep retries it at 22:00 local (quiet), then at 08:00
    with time_machine.travel(berlin(2027, 1, 15, 22, 0), tick=False), after_commit():
        notifications_retry_failed()
    held = Notification.objects.get(pk=failed.pk)
    with time_machine.travel(berlin(2027, 1, 16, 8, 0), tick=False), after_commit():
        notifications_retry_failed()

    # then nothing went at 22:00; it went at 08:00
    assert held.status == Status.FAILED
    assert held.not_before == berlin(2027, 1, 16, 8, 0)
    assert [m.to[0] for m in mail.outbox] == [patient.email]
    assert Notification.objects.get(pk=failed.pk).status == Status.SENT


def test_a_lapsed_send_in_quiet_hours_waits_as_pending_and_goes_at_their_end():
    # given a reminder whose worker died mid-send, found by the sweep at 23:00 local
    patient = PatientFactory(time_zone="Europe/Berlin")
    quiet(patient, "21:00", "08:00")
    reminder_for(patient, berlin(2027, 1, 16, 10, 0))
    with time_machine.travel(berlin(2027, 1, 15, 15, 0), tick=False):
        with after_commit():
            notifications_send_due_reminders()
        row = Notification.objects.get(recipient=patient)
    Notification.objects.filter(pk=row.pk).update(
        status=Status.SENDING, sent_at=None, lease_expires_at=berlin(2027, 1, 15, 15, 5)
    )
    mail.outbox.clear()
    with time_machine.travel(berlin(2027, 1, 15, 23, 0), tick=False), after_commit():
        notifications_retry_failed()
    held = Notification.objects.get(pk=row.pk)
    with time_machine.travel(berlin(2027, 1, 16, 8, 0), tick=False), after_commit():
        notifications_retry_failed()

    assert (held.status, held.lease_expires_at) == (Status.PENDING, None)
    assert [m.to[0] for m in mail.outbox] == [patient.email]
