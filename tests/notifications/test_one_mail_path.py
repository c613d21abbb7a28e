"""One mail path: every email is a Notification written in the transaction of the change it
announces and sent after commit, never while a transaction (and its row locks) is open;
a mail server that fails leaves the change committed and the message retryable.

These tests commit for real (``transaction=True``): "after commit" only exists then.
"""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from core.models import OutboxDelivery, OutboxEvent
from core.outbox import event_publish, outbox_event_deliver
from labs.models import LabResult
from notifications.models import Notification
from notifications.services import (
    notification_deliver,
    notification_retry,
    notifications_retry_failed,
)
from scheduling.services import appointment_book
from tests.clinical_world import clinical_world
from tests.factories import DoctorFactory, PatientFactory, SlotFactory
from tests.notifications.mail_backends import TransactionWatchingBackend
from tests.notifications.smtp import smtp_server
from tests.scheduling.conftest import hours_from_now

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WATCHING = "tests.notifications.mail_backends.TransactionWatchingBackend"
CRITICAL_VALUE = "7.3"


@pytest.fixture(autouse=True)
def _watch_for_mail_inside_transactions():
    TransactionWatchingBackend.sent_in_transaction = []
    mail.outbox = []
    with override_settings(EMAIL_BACKEND=WATCHING):
        yield


def record_critical_potassium(client_for, world) -> LabResult:
    collected = timezone.now() - timedelta(hours=2)
    response = client_for(world.doctor).post(
        "/api/v1/lab-results/",
        {
            "patient": world.patient_a.pk,
            "test_code": "2823-3",
            "test_name": "Potassium",
            "value": CRITICAL_VALUE,
            "unit": "mmol/L",
            "reference_range": {"low": 3.5, "high": 5.1, "critical_low": 2.5, "critical_high": 6.5},
            "collected_at": collected.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["flag"] == "critical"
    return LabResult.objects.get(pk=response.json()["id"])


def deliver(name: str) -> OutboxEvent:
    """What the outbox worker does with the latest ``name`` event (outside any transaction)."""
    event = OutboxEvent.objects.filter(name=name).latest("created_at")
    outbox_event_deliver(event_id=event.id)
    return event


def test_a_critical_lab_alert_is_a_notification_sent_after_commit(client_for):
    # given a critical result recorded by a doctor (committed)
    world = clinical_world()
    result = record_critical_potassium(client_for, world)

    # when the outbox worker delivers lab_result.created
    event = deliver("lab_result.created")

    # then one Notification records the alert, sent once, to the ordering clinician
    notification = Notification.objects.get(kind="lab_result_critical")
    assert (notification.recipient_id, notification.event_id) == (world.doctor.pk, event.id)
    assert (notification.status, notification.attempts) == ("sent", 1)
    [message] = mail.outbox
    assert message.to == [world.doctor.email]
    assert (message.subject, message.body) == (notification.subject, notification.body)
    # and it was sent after the outbox's transaction committed, not inside it
    assert TransactionWatchingBackend.sent_in_transaction == []
    # and neither the email nor the stored message names the value or the test
    for text in (message.subject, message.body):
        assert CRITICAL_VALUE not in text
        assert "Potassium" not in text
    assert str(result.pk) in message.body


def test_report_ready_mail_is_a_notification_sent_after_commit():
    # given a finished report announced by report.completed
    owner = DoctorFactory()
    with transaction.atomic():
        event_publish(
            name="report.completed",
            payload={"job_id": "5d0c59f1-2f42-4f0e-9a55-1f8d2a6c1b11", "requested_by": owner.pk},
            aggregate=("core.job", "5d0c59f1-2f42-4f0e-9a55-1f8d2a6c1b11"),
        )

    # when it is delivered, twice (at least once)
    deliver("report.completed")
    deliver("report.completed")

    # then one Notification, sent once after commit, carries the download link
    notification = Notification.objects.get(kind="report_ready")
    assert (notification.recipient_id, notification.status, notification.attempts) == (
        owner.pk,
        "sent",
        1,
    )
    [message] = mail.outbox
    assert message.to == [owner.email]
    assert "/api/v1/jobs/5d0c59f1-2f42-4f0e-9a55-1f8d2a6c1b11/download/" in message.body
    assert message.body == notification.body
    assert TransactionWatchingBackend.sent_in_transaction == []


def test_appointment_emails_are_sent_after_commit_too():
    # given a booking (committed)
    doctor = DoctorFactory()
    start = hours_from_now(72)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    appointment_book(patient=PatientFactory(), slot_id=slot.pk)

    # when the outbox worker delivers appointment.scheduled
    deliver("appointment.scheduled")

    # then both emails went out, none inside a transaction
    assert len(mail.outbox) == 2
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert TransactionWatchingBackend.sent_in_transaction == []


def test_a_refusing_mail_server_leaves_the_result_committed_and_the_alert_retryable(
    client_for,
):
    # given a mail server that refuses every message
    world = clinical_world()
    with smtp_server(refusing=True) as refusing, refusing.as_mail_backend():
        # when a critical result is recorded and its event delivered
        result = record_critical_potassium(client_for, world)
        event = deliver("lab_result.created")
    assert refusing.connections == 1

    # then the clinical change and the event's delivery stand
    assert LabResult.objects.filter(pk=result.pk).exists()
    assert OutboxDelivery.objects.filter(event=event, subscriber="labs.notify_critical").exists()
    # and the alert is recorded as failed, with the server's answer, to be retried
    notification = Notification.objects.get(kind="lab_result_critical")
    assert (notification.status, notification.attempts) == ("failed", 1)
    assert "554" in notification.last_error
    assert notification.sent_at is None

    # when the server accepts mail again and the retry runs (twice: a duplicated message)
    with smtp_server() as accepting, accepting.as_mail_backend():
        notification_retry(notification_id=notification.pk)
        notification_retry(notification_id=notification.pk)

    # then the alert went out exactly once, and is recorded as sent
    [message] = accepting.messages
    assert message["To"] == world.doctor.email
    assert message["Subject"] == notification.subject
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)
    assert OutboxEvent.objects.filter(name="notification.sent").count() == 1


def test_a_send_whose_worker_died_is_taken_over_once_its_lease_lapses():
    # given two emails a worker claimed: one whose lease lapsed (the worker died mid-send),
    # one still being sent by a live worker
    recipient = PatientFactory()
    now = timezone.now()

    def claimed(lease_expires_at):
        return Notification.objects.create(
            recipient=recipient,
            event_id=OutboxEvent.objects.create(name="report.completed", payload={}).id,
            kind="report_ready",
            subject="Your Carebook report is ready",
            body="ready",
            status="sending",
            attempts=1,
            lease_expires_at=lease_expires_at,
        )

    lapsed = claimed(now - timedelta(seconds=1))
    live = claimed(now + timedelta(minutes=2))

    # when the sweep runs, and someone tries to send the live one directly
    notifications_retry_failed()
    notification_deliver(notification_id=live.pk)

    # then only the lapsed one was sent (again); the live claim was respected
    lapsed.refresh_from_db()
    live.refresh_from_db()
    assert (lapsed.status, lapsed.attempts) == ("sent", 2)
    assert (live.status, live.attempts) == ("sending", 1)
    assert len(mail.outbox) == 1


def test_a_notification_whose_send_was_lost_at_commit_is_swept():
    # given a message recorded, whose process died before its after-commit send
    with override_settings(NOTIFICATION_SWEEP_AFTER_SECONDS=0):
        notification = Notification.objects.create(
            recipient=PatientFactory(),
            event_id=OutboxEvent.objects.create(name="report.completed", payload={}).id,
            kind="report_ready",
            subject="Your Carebook report is ready",
            body="ready",
        )

        # when the sweep runs
        assert notifications_retry_failed() == 1

    # then it was sent
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert len(mail.outbox) == 1


# The one module that hands messages to a mail server. accounts/services.py mails the
# password-reset link itself: the link is a credential, which must never be stored in a
# Notification row that staff read, and accounts sits below notifications.
MAIL_SENDERS = {"notifications/services.py", "accounts/services.py"}
NOT_APPLICATION = {"tests", "benchmarks", "artifacts", "node_modules"}
MAIL_FUNCTIONS = {
    "send_mail", "send_mass_mail", "mail_admins", "mail_managers", "EmailMessage",
    "EmailMultiAlternatives", "get_connection",
}  # fmt: skip


def test_only_the_notifications_service_sends_mail():
    # given every application module of the project
    senders = set()
    for top in sorted(ROOT.iterdir()):
        if not top.is_dir() or top.name.startswith(".") or top.name in NOT_APPLICATION:
            continue
        for path in top.rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            tree = ast.parse(path.read_text(), filename=relative)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "django.core.mail"
                ):
                    if {alias.name for alias in node.names} & MAIL_FUNCTIONS:
                        senders.add(relative)
                elif isinstance(node, ast.Import) and any(
                    alias.name.startswith("django.core.mail") for alias in node.names
                ):
                    senders.add(relative)

    # then only the notifications service (and the reset link, see above) sends mail
    assert senders <= MAIL_SENDERS
    assert "notifications/services.py" in senders
