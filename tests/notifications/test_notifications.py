"""Appointment emails and 24 h reminders: one per recipient per event, in their time zone."""

from __future__ import annotations

import socket
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import TestCase, override_settings
from django.utils import timezone

from core.models import Job, OutboxEvent
from core.outbox import outbox_event_deliver
from notifications.events import email_on_appointment_event
from notifications.models import Notification
from notifications.services import (
    MAX_ATTEMPTS,
    notification_retry,
    notification_send,
    notifications_for_appointment_event,
    notifications_retry_failed,
    notifications_send_due_reminders,
    reminder_event_id,
)
from scheduling.models import Appointment
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, SlotFactory

pytestmark = pytest.mark.django_db

Kind = Notification.Kind


def local(moment, zone):
    """The recipient-local wall clock and zone, as the email must show it."""
    at = moment.astimezone(ZoneInfo(zone))
    return f"{at:%H:%M} ({zone}, {at.tzname()})"


@pytest.fixture
def people():
    patient = PatientFactory(time_zone="Europe/Paris", first_name="Paula")
    doctor = DoctorFactory(time_zone="America/New_York", first_name="Dana")
    return patient, doctor


def book(patient, doctor, *, days=3, hour=15):
    start = (timezone.now() + timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    return appointment_book(patient=patient, slot_id=slot.pk)


def after_commit():
    """Emails go out after the transaction that records them commits; a test's own
    transaction never commits, so run what its commit would have run."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def deliver(name: str) -> OutboxEvent:
    event = OutboxEvent.objects.filter(name=name).latest("created_at")
    with after_commit():
        outbox_event_deliver(event_id=event.id)
    return event


def test_booking_emails_patient_and_clinician_in_their_own_time_zones(people):
    # given a booking by a patient in Paris with a doctor in New York
    patient, doctor = people
    appointment = book(patient, doctor)

    # when the outbox delivers appointment.scheduled
    event = deliver("appointment.scheduled")

    # then each got one email, with the time on their own clock and the zone named
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert set(by_recipient) == {patient.email, doctor.email}
    assert local(appointment.start, "Europe/Paris") in by_recipient[patient.email].body
    assert local(appointment.start, "America/New_York") in by_recipient[doctor.email].body
    assert f"with {doctor}" in by_recipient[patient.email].body
    assert f"with your patient {patient}" in by_recipient[doctor.email].body
    assert by_recipient[patient.email].subject == "Your appointment is booked"
    # and each has a sent Notification record
    records = Notification.objects.filter(event_id=event.id).order_by("recipient_id")
    assert [(n.recipient, n.kind, n.status, n.attempts) for n in records] == sorted(
        [
            (patient, Kind.APPOINTMENT_SCHEDULED, "sent", 1),
            (doctor, Kind.APPOINTMENT_SCHEDULED, "sent", 1),
        ],
        key=lambda row: row[0].pk,
    )
    assert all(n.sent_at is not None and n.channel == "email" for n in records)


def test_each_sent_email_publishes_notification_sent(people):
    patient, doctor = people
    book(patient, doctor)

    deliver("appointment.scheduled")

    sent_events = OutboxEvent.objects.filter(name="notification.sent")
    assert sorted(e.payload["recipient_id"] for e in sent_events) == sorted([patient.pk, doctor.pk])
    notification = Notification.objects.get(recipient=patient)
    event = sent_events.get(payload__recipient_id=patient.pk)
    assert event.payload["notification_id"] == notification.pk
    assert event.payload["kind"] == "appointment_scheduled"
    assert event.aggregate_type == "notifications.notification"


def test_exactly_one_email_per_recipient_when_the_event_is_handled_twice(people):
    # given a booked appointment whose event was delivered once
    patient, doctor = people
    book(patient, doctor)
    event = deliver("appointment.scheduled")
    assert len(mail.outbox) == 2

    # when the handler runs again: directly (as a redelivered message would), and through
    # the outbox after its delivery record is gone
    email_on_appointment_event(event)
    email_on_appointment_event(event)
    OutboxEvent.objects.filter(id=event.id).update(delivered_at=None)
    event.deliveries.filter(subscriber="notifications.email").delete()
    outbox_event_deliver(event_id=event.id)

    # then still one email and one record per recipient
    assert sorted(m.to[0] for m in mail.outbox) == sorted([patient.email, doctor.email])
    assert Notification.objects.filter(event_id=event.id).count() == 2
    assert OutboxEvent.objects.filter(name="notification.sent").count() == 2


def test_the_database_refuses_a_second_record_for_the_same_event_recipient_and_kind(people):
    patient, doctor = people
    book(patient, doctor)
    event = deliver("appointment.scheduled")

    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            event_id=event.id, recipient=patient, kind=Kind.APPOINTMENT_SCHEDULED
        )


def test_reschedule_email_shows_old_and_new_time(people):
    patient, doctor = people
    appointment = book(patient, doctor, days=3)
    old_start = appointment.start
    new_start = old_start + timedelta(days=1, hours=2)
    new_slot = SlotFactory(clinician=doctor, start=new_start, end=new_start + timedelta(minutes=30))
    mail.outbox.clear()

    appointment_reschedule(actor=patient, appointment_id=appointment.pk, new_slot_id=new_slot.pk)
    deliver("appointment.rescheduled")

    [to_patient] = [m for m in mail.outbox if m.to == [patient.email]]
    assert to_patient.subject == "Your appointment has moved"
    assert f"Was: {old_start.astimezone(ZoneInfo('Europe/Paris')):%A}" in to_patient.body
    assert local(old_start, "Europe/Paris") in to_patient.body
    assert local(new_start, "Europe/Paris") in to_patient.body
    assert Notification.objects.filter(kind=Kind.APPOINTMENT_RESCHEDULED).count() == 2


def test_cancellation_emails_both(people):
    patient, doctor = people
    appointment = book(patient, doctor)
    mail.outbox.clear()

    appointment_cancel(actor=patient, appointment_id=appointment.pk)
    deliver("appointment.cancelled")

    assert sorted(m.to[0] for m in mail.outbox) == sorted([patient.email, doctor.email])
    assert all(m.subject == "Your appointment is cancelled" for m in mail.outbox)
    assert all("has been cancelled" in m.body for m in mail.outbox)


def test_an_event_for_an_unknown_appointment_sends_nothing():
    class Ghost:
        id = "00000000-0000-0000-0000-000000000001"
        name = "appointment.scheduled"
        payload = {"appointment_id": 999_999}
        aggregate_type = "scheduling.appointment"
        aggregate_id = "999999"

    email_on_appointment_event(Ghost())

    assert mail.outbox == []
    assert Notification.objects.count() == 0


# --- failures and retries ----------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_mail_server_failure_is_recorded_and_a_retry_sends_once(people):
    # given an SMTP server that is down
    patient, doctor = people
    book(patient, doctor)
    smtp_down = override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=closed_port(),
        EMAIL_TIMEOUT=2,
    )

    # when the event is handled
    with smtp_down:
        deliver("appointment.scheduled")

    # then both notifications are failed, with the error, and nothing was announced
    failed = Notification.objects.filter(status="failed")
    assert failed.count() == 2
    assert all(n.attempts == 1 and "Connection" in n.last_error for n in failed)
    assert all(n.sent_at is None for n in failed)
    assert not OutboxEvent.objects.filter(name="notification.sent").exists()

    # when the server is back and the retry runs (twice: a duplicated retry message)
    for notification in failed:
        notification_retry(notification_id=notification.pk)
        notification_retry(notification_id=notification.pk)

    # then each recipient got exactly one email
    assert sorted(m.to[0] for m in mail.outbox) == sorted([patient.email, doctor.email])
    assert set(Notification.objects.values_list("status", "attempts")) == {("sent", 2)}
    assert OutboxEvent.objects.filter(name="notification.sent").count() == 2


def test_retries_stop_after_max_attempts(people):
    patient, doctor = people
    appointment = book(patient, doctor)
    notification = Notification.objects.create(
        recipient=patient,
        event_id=reminder_event_id(appointment),
        kind=Kind.APPOINTMENT_SCHEDULED,
        appointment=appointment,
        status="failed",
        attempts=MAX_ATTEMPTS,
    )

    notification_retry(notification_id=notification.pk)

    assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.attempts == MAX_ATTEMPTS


def test_sweep_retries_old_failed_notifications(people):
    patient, doctor = people
    appointment = book(patient, doctor)
    notification = Notification.objects.create(
        recipient=doctor,
        event_id=reminder_event_id(appointment),
        kind=Kind.APPOINTMENT_SCHEDULED,
        appointment=appointment,
        status="failed",
        attempts=1,
    )
    Notification.objects.filter(pk=notification.pk).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )

    assert notifications_retry_failed() == 1

    notification.refresh_from_db()
    assert notification.status == "sent"
    assert [m.to for m in mail.outbox] == [[doctor.email]]


# --- reminders ---------------------------------------------------------------------------


def appointment_starting_in(hours, *, booked_days_ago=3, **fields):
    start = timezone.now() + timedelta(hours=hours)
    slot = SlotFactory(start=start, end=start + timedelta(minutes=30), status="booked")
    appointment = AppointmentFactory(slot=slot, **fields)
    Appointment.objects.filter(pk=appointment.pk).update(
        created_at=timezone.now() - timedelta(days=booked_days_ago)
    )
    return appointment


def test_reminders_go_out_once_24_hours_ahead(people):
    # given appointments tomorrow, in two days, cancelled, and one booked only today
    patient, _ = people
    due = appointment_starting_in(20, patient=patient)
    appointment_starting_in(30)
    appointment_starting_in(20, status="cancelled")
    appointment_starting_in(20, booked_days_ago=0.1)

    # when the beat task runs twice
    with after_commit():
        first = notifications_send_due_reminders()
    with after_commit():
        second = notifications_send_due_reminders()

    # then only the due appointment's patient and clinician were reminded, once
    assert (first, second) == (2, 0)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([patient.email, due.clinician.email])
    reminder = mail.outbox[0]
    assert reminder.subject == "Reminder: your appointment tomorrow"
    patient_mail = next(m for m in mail.outbox if m.to == [patient.email])
    assert local(due.start, "Europe/Paris") in patient_mail.body
    assert set(Notification.objects.values_list("kind", "event_id")) == {
        (Kind.APPOINTMENT_REMINDER, reminder_event_id(due))
    }


def test_a_rescheduled_appointment_is_reminded_of_its_new_time():
    appointment = appointment_starting_in(20)
    with after_commit():
        notifications_send_due_reminders()
    new_start = appointment.start + timedelta(hours=2)
    Appointment.objects.filter(pk=appointment.pk).update(
        start=new_start, end=new_start + timedelta(minutes=30)
    )
    appointment.refresh_from_db()

    with after_commit():
        assert notifications_send_due_reminders() == 2

    assert len(mail.outbox) == 4
    assert Notification.objects.filter(event_id=reminder_event_id(appointment)).count() == 2


# --- admin -------------------------------------------------------------------------------


def test_staff_see_notifications_read_only_with_filters(client, people):
    from tests.factories import StaffFactory

    patient, doctor = people
    book(patient, doctor)
    deliver("appointment.scheduled")
    client.force_login(StaffFactory(is_superuser=True))

    listing = client.get(
        "/admin/notifications/notification/?status__exact=sent&kind__exact=appointment_scheduled"
    )
    empty = client.get("/admin/notifications/notification/?status__exact=failed")
    add = client.get("/admin/notifications/notification/add/")

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2
    assert empty.context["cl"].result_count == 0
    assert add.status_code == 403


def test_staff_send_a_failed_notification_again_from_the_admin(client, people):
    # given a notification whose attempts ran out
    from audit.models import AuditEvent
    from tests.factories import StaffFactory

    patient, doctor = people
    appointment = book(patient, doctor)
    notification = Notification.objects.create(
        recipient=patient,
        event_id=reminder_event_id(appointment),
        kind=Kind.APPOINTMENT_SCHEDULED,
        appointment=appointment,
        status="failed",
        attempts=MAX_ATTEMPTS,
        last_error="SMTPConnectError: (554, b'no')",
    )
    staff = StaffFactory(is_superuser=True)
    client.force_login(staff)

    # when staff see it in the list and send it again
    listing = client.get("/admin/notifications/notification/?status__exact=failed")
    response = client.post(
        "/admin/notifications/notification/",
        {"action": "resend", "_selected_action": [notification.pk]},
    )

    # then it is pending with a fresh set of attempts, and the audit names who asked
    assert b"SMTPConnectError" in listing.content
    assert response.status_code == 302
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("pending", 0)
    row = AuditEvent.objects.get(action="notification.resend")
    assert (row.actor_id, row.object_id) == (staff.pk, str(notification.pk))
    # and the worker's retry sends it
    with override_settings(NOTIFICATION_SWEEP_AFTER_SECONDS=0):
        notification_retry(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == "sent"


def test_notification_send_itself_is_idempotent_without_the_job(people):
    # given an event already handled
    patient, doctor = people
    appointment = book(patient, doctor)
    event = deliver("appointment.scheduled")

    # when the send service is called again for the same triple (e.g. a replayed job)
    again = notification_send(
        recipient=patient,
        kind=Kind.APPOINTMENT_SCHEDULED,
        event_id=event.id,
        appointment=appointment,
    )

    # then it returns the sent record and sends nothing
    assert again.status == "sent"
    assert again.attempts == 1
    assert len(mail.outbox) == 2


def test_sending_is_recorded_as_a_job_of_the_appointment(people, client_for):
    # given a booking whose notifications went out
    patient, doctor = people
    appointment = book(patient, doctor)
    event = deliver("appointment.scheduled")

    # then one succeeded job records them, listed among the appointment's tasks
    job = Job.objects.get(kind="appointment.notifications")
    assert job.status == "succeeded"
    assert (job.subject_type, job.subject_id) == ("scheduling.appointment", str(appointment.pk))
    assert job.idempotency_key == f"event:{event.id}"
    assert sorted(n["recipient_id"] for n in job.result["notifications"]) == sorted(
        [patient.pk, doctor.pk]
    )
    # (recorded in the outbox's transaction: the emails went out once it committed)
    assert {n["status"] for n in job.result["notifications"]} == {"pending"}
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    response = client_for(patient).get(f"/api/v1/tasks/appointments/{appointment.pk}/")
    assert response.status_code == 200
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert str(job.id) in {row["id"] for row in rows}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_handling_the_same_event_at_once_send_one_email_each(people):
    # given a booked appointment and its event
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connection

    patient, doctor = people
    book(patient, doctor)
    event = OutboxEvent.objects.get(name="appointment.scheduled")
    barrier = Barrier(4)

    def handle() -> None:
        try:
            barrier.wait(timeout=10)
            # the subscriber as two racing Celery workers would run it, without the outbox
            notifications_for_appointment_event(event=event)
        finally:
            connection.close()

    # when four threads run the handler at the same moment
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(handle) for _ in range(4)]:
            future.result(timeout=30)

    # then each recipient got exactly one email and has one record
    assert sorted(m.to[0] for m in mail.outbox) == sorted([patient.email, doctor.email])
    assert Notification.objects.filter(event_id=event.id, status="sent").count() == 2
