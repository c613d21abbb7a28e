"""Notification writes: emails to patients and clinicians, and their 24 h reminders.

Idempotency: a (event id, recipient, kind) triple has one ``Notification`` row (unique
constraint). The row is locked while its email is sent, so two workers handling the same
event never both send; a row already ``sent`` is never sent again. The only duplicate
left possible is an email sent whose transaction then fails to commit: a mail server
cannot take part in our transaction, and for care messages we prefer sending twice to
never.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from core.errors import Conflict
from core.jobs import job_run
from core.models import Job
from core.outbox import event_publish
from core.resilience import backoff_delay
from notifications.lock_objects import notification_lock
from notifications.models import Notification
from scheduling.models import Appointment

logger = logging.getLogger(__name__)

Kind = Notification.Kind
Status = Notification.Status

KIND_FOR_EVENT = {
    "appointment.scheduled": Kind.APPOINTMENT_SCHEDULED,
    "appointment.rescheduled": Kind.APPOINTMENT_RESCHEDULED,
    "appointment.cancelled": Kind.APPOINTMENT_CANCELLED,
}
SUBJECTS = {
    Kind.APPOINTMENT_SCHEDULED: "Your appointment is booked",
    Kind.APPOINTMENT_RESCHEDULED: "Your appointment has moved",
    Kind.APPOINTMENT_CANCELLED: "Your appointment is cancelled",
    Kind.APPOINTMENT_REMINDER: "Reminder: your appointment tomorrow",
}
NOTIFICATION_JOB = "appointment.notifications"
MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 3600.0
REMINDER_LEAD = timedelta(hours=24)
REMINDER_BATCH_SIZE = 500
# Reminder ids are derived, not random, so the beat task can run as often as it likes.
REMINDER_NAMESPACE = uuid.UUID("5b0e7c1e-1d2a-4f7e-9c55-7a1f3f0c2b64")


class EventLike(Protocol):
    """What a handler needs of an outbox event (``core.models.OutboxEvent``)."""

    @property
    def id(self) -> Any: ...

    @property
    def name(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def aggregate_type(self) -> str: ...

    @property
    def aggregate_id(self) -> str: ...


@dataclass(frozen=True)
class AppointmentTimes:
    start: datetime
    end: datetime
    previous_start: datetime | None = None


# --- reacting to appointment events ---------------------------------------------------


def notifications_for_appointment_event(*, event: EventLike) -> list[Notification]:
    """Email the patient and the clinician about an appointment event (once each).

    Recorded as a background job of the appointment (``GET tasks/appointments/{id}/``),
    one per event: a redelivered event finds the job finished and sends nothing.
    """
    kind = KIND_FOR_EVENT[event.name]
    appointment = _appointment_of(event)
    if appointment is None:
        logger.warning("event %s names no known appointment; nothing to notify", event.id)
        return []
    times = _times_from(event.payload, appointment)
    sent: list[Notification] = []

    def send_both(job: Job) -> dict[str, Any]:
        for recipient in (appointment.patient, appointment.clinician):
            sent.append(
                notification_send(
                    recipient=recipient,
                    kind=kind,
                    event_id=event.id,
                    appointment=appointment,
                    times=times,
                )
            )
        return {
            "event_id": str(event.id),
            "notifications": [
                {"id": n.pk, "recipient_id": n.recipient_id, "kind": n.kind, "status": n.status}
                for n in sent
            ],
        }

    try:
        job_run(
            kind=NOTIFICATION_JOB,
            work=send_both,
            requested_by=appointment.patient,
            subject=appointment,
            idempotency_key=f"event:{event.id}",
        )
    except Conflict as exc:
        # Two workers ran the same event's job at once; the other one recorded it first.
        # Our sends were no-ops (the notification rows are locked and unique).
        if exc.code != "job_finished":
            raise
    return sent


def _appointment_of(event: EventLike) -> Appointment | None:
    raw_id: Any = event.payload.get("appointment_id")
    if raw_id is None and event.aggregate_type == "scheduling.appointment":
        raw_id = event.aggregate_id
    if raw_id is None:
        raw_id = event.payload.get("id")
    try:
        appointment_id = int(raw_id)
    except (TypeError, ValueError):
        return None
    return (
        Appointment.objects.select_related("patient", "clinician", "previous_slot")
        .filter(pk=appointment_id)
        .first()
    )


def _times_from(payload: dict[str, Any], appointment: Appointment) -> AppointmentTimes:
    """The times the event announced (the row may have moved on since), else the row's."""
    previous = appointment.previous_slot.start if appointment.previous_slot else None
    return AppointmentTimes(
        start=_parse(payload.get("start")) or appointment.start,
        end=_parse(payload.get("end")) or appointment.end,
        previous_start=_parse(payload.get("previous_start")) or previous,
    )


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


# --- sending ----------------------------------------------------------------------------


def notification_send(
    *,
    recipient: User,
    kind: str,
    event_id: Any,
    appointment: Appointment,
    times: AppointmentTimes | None = None,
) -> Notification:
    """Send one email unless this (event, recipient, kind) was already sent."""
    with transaction.atomic():
        notification, _ = Notification.objects.get_or_create(
            event_id=event_id,
            recipient=recipient,
            kind=kind,
            defaults={"appointment": appointment, "channel": Notification.Channel.EMAIL},
        )
        # Lock: a concurrent handler of the same event waits here, then finds it sent.
        notification = notification_lock(notification.pk) or notification
        if notification.status == Status.SENT:
            return notification
        return _deliver(notification, recipient, appointment, times)


def notification_retry(*, notification_id: int) -> Notification | None:
    """Try a failed notification again (its retry task, or the periodic sweep)."""
    with transaction.atomic():
        notification = notification_lock(notification_id)
        if notification is None or notification.status == Status.SENT:
            return notification
        if notification.attempts >= MAX_ATTEMPTS or notification.appointment is None:
            return notification
        return _deliver(notification, notification.recipient, notification.appointment, None)


def _deliver(
    notification: Notification,
    recipient: User,
    appointment: Appointment,
    times: AppointmentTimes | None,
) -> Notification:
    subject, body = _render(notification.kind, recipient, appointment, times)
    notification.subject = subject
    notification.attempts += 1
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient.email])
    except Exception as exc:  # any backend error (SMTP, socket); recorded, retried later
        notification.status = Status.FAILED
        notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        notification.save(update_fields=["subject", "attempts", "status", "last_error"])
        logger.warning("notification %s failed: %s", notification.pk, notification.last_error)
        _schedule_retry(notification)
        return notification
    notification.status = Status.SENT
    notification.sent_at = timezone.now()
    notification.last_error = ""
    notification.save(update_fields=["subject", "attempts", "status", "last_error", "sent_at"])
    event_publish(
        name="notification.sent",
        payload={
            "notification_id": notification.pk,
            "recipient_id": recipient.pk,
            "channel": notification.channel,
            "kind": notification.kind,
            "source_event_id": str(notification.event_id),
            "appointment_id": appointment.pk,
        },
        aggregate=("notifications.notification", notification.pk),
    )
    return notification


def _schedule_retry(notification: Notification) -> None:
    if notification.attempts >= MAX_ATTEMPTS:
        return
    delay = backoff_delay(notification.attempts - 1, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
    notification_id = notification.pk

    def enqueue() -> None:
        from notifications.tasks import notification_retry_task

        try:
            notification_retry_task.apply_async(
                args=(notification_id,), countdown=delay, retry=False
            )
        except Exception:
            logger.warning("retry of notification %s not queued; sweep will", notification_id)

    transaction.on_commit(enqueue)


def _render(
    kind: str, recipient: User, appointment: Appointment, times: AppointmentTimes | None
) -> tuple[str, str]:
    times = times or _times_from({}, appointment)
    is_patient = recipient.pk == appointment.patient_id
    context = {
        "kind": kind,
        "recipient": recipient,
        "with_whom": f"with {appointment.clinician}"
        if is_patient
        else f"with your patient {appointment.patient}",
        "start": format_local(times.start, recipient),
        "end": format_local(times.end, recipient, time_only=True),
        "previous_start": format_local(times.previous_start, recipient)
        if times.previous_start
        else "",
        "appointment_id": appointment.pk,
    }
    body = render_to_string("notifications/appointment_email.txt", context)
    return SUBJECTS[Kind(kind)], body


def format_local(moment: datetime, recipient: User, *, time_only: bool = False) -> str:
    """``Tuesday 1 December 2026, 10:00 (Europe/Paris, CET)``: the recipient's wall clock."""
    local = moment.astimezone(recipient.tzinfo)
    if time_only:
        return f"{local:%H:%M} ({local.tzname()})"
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({recipient.time_zone}, {local.tzname()})"


# --- reminders and the failure sweep (beat) -----------------------------------------------


def reminder_event_id(appointment: Appointment) -> uuid.UUID:
    """One id per appointment *and start*: a rescheduled appointment is reminded again."""
    return uuid.uuid5(REMINDER_NAMESPACE, f"{appointment.pk}:{appointment.start.isoformat()}")


def notifications_send_due_reminders(*, now: datetime | None = None) -> int:
    """Remind both parties of active appointments starting within 24 h; returns emails sent.

    Appointments booked less than 24 h ahead are skipped: their booking email was the
    reminder. Safe to run at any frequency: reminders are keyed by appointment and start.
    """
    now = now or timezone.now()
    candidates = list(
        Appointment.objects.filter(
            status__in=Appointment.ACTIVE_STATUSES,
            start__gt=now,
            start__lte=now + REMINDER_LEAD,
        )
        .select_related("patient", "clinician")
        .order_by("start")[:REMINDER_BATCH_SIZE]
    )
    candidates = [a for a in candidates if a.created_at <= a.start - REMINDER_LEAD]
    done = set(
        Notification.objects.filter(
            kind=Kind.APPOINTMENT_REMINDER,
            status=Status.SENT,
            event_id__in=[reminder_event_id(a) for a in candidates],
        ).values_list("event_id", "recipient_id")
    )
    sent = 0
    for appointment in candidates:
        event_id = reminder_event_id(appointment)
        for recipient in (appointment.patient, appointment.clinician):
            if (event_id, recipient.pk) in done:
                continue
            notification = notification_send(
                recipient=recipient,
                kind=Kind.APPOINTMENT_REMINDER,
                event_id=event_id,
                appointment=appointment,
            )
            sent += notification.status == Status.SENT
    return sent


def notifications_retry_failed(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Retry failed notifications whose retry task was lost (broker down); returns count."""
    ids = list(
        Notification.objects.filter(
            status=Status.FAILED,
            attempts__lt=MAX_ATTEMPTS,
            created_at__lte=timezone.now() - older_than,
        ).values_list("pk", flat=True)[:REMINDER_BATCH_SIZE]
    )
    for notification_id in ids:
        notification_retry(notification_id=notification_id)
    return len(ids)
