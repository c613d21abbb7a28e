"""Notification writes: every email Carebook sends, and the 24 h appointment reminders.

One mail path. A caller (a subscriber of an outbox event, the reminder beat task) writes a
``Notification`` row with its subject and body in its own transaction
(``notification_queue``); after commit, ``notification_deliver`` sends it, outside any
transaction, and records the outcome. A failure is recorded and retried (backoff task,
then the periodic sweep), and the change that caused the message is committed whatever
the mail server does.

Idempotency: a (event id, recipient, kind) triple has one row (unique constraint). A send
is claimed first (status ``sending`` with a lease, in a short transaction of its own), so
two workers never both send; a row already ``sent`` is never sent again. The only
duplicate left possible is a worker dying between the SMTP exchange and recording it: for
care messages we prefer sending twice to never.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.mime.text import MIMEText
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from core.audit import audit_record, diff, snapshot
from core.broker import send_task_soon
from core.errors import Conflict
from core.ical import Method
from core.jobs import job_run
from core.models import Job
from core.outbox import event_publish
from core.resilience import backoff_delay
from notifications.lock_objects import notification_lock, notification_preference_lock
from notifications.models import Notification, NotificationPreference
from notifications.selectors import notification_preference_of, quiet_hours_end
from scheduling.ical import appointment_invitation
from scheduling.models import Appointment, AppointmentSeries

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
# The .ics an appointment email carries (scheduling.ical): an invitation or its withdrawal.
ICS_METHOD_FOR_KIND: dict[str, str] = {
    Kind.APPOINTMENT_SCHEDULED: Method.REQUEST,
    Kind.APPOINTMENT_RESCHEDULED: Method.REQUEST,
    Kind.APPOINTMENT_CANCELLED: Method.CANCEL,
}
# A series is announced once, by its own event: its occurrences' events are not mailed
# (one confirmation for a course of twenty, not twenty). An occurrence cancelled or moved
# on its own is mailed as any appointment is.
KIND_FOR_SERIES_EVENT = {
    "series.created": Kind.SERIES_SCHEDULED,
    "series.cancelled": Kind.SERIES_CANCELLED,
}
SERIES_SUBJECTS = {
    Kind.SERIES_SCHEDULED: "Your appointment series is booked ({count} appointments)",
    Kind.SERIES_CANCELLED: "Appointments of your series are cancelled ({count})",
}
# Messages that honour the recipient's preferences (``NotificationPreference``): with
# email off they are recorded as ``skipped`` and not sent; one falling in their quiet
# hours is held (``not_before``) until the hours end. Booking confirmations, cancellations
# and critical results are not optional and go out at once.
HONOURS_PREFERENCES = frozenset({Kind.APPOINTMENT_REMINDER, Kind.WAITLIST_OFFER})
NOTIFICATION_JOB = "appointment.notifications"
RETRY_TASK_NAME = "notifications.retry"
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


# --- preferences ----------------------------------------------------------------------


def notification_preference_update(*, user: User, data: dict[str, Any]) -> NotificationPreference:
    """Save the user's own preferences (``email``, ``quiet_hours``: ``{start, end}`` as
    ``time`` values, or None to clear); audited with what changed."""
    fields = ("email", "quiet_start", "quiet_end")
    with transaction.atomic():
        preference = notification_preference_lock(user)
        before = snapshot(preference, fields)
        if "email" in data:
            preference.email = data["email"]
        if "quiet_hours" in data:
            window = data["quiet_hours"]
            preference.quiet_start = window["start"] if window else None
            preference.quiet_end = window["end"] if window else None
        preference.save()
        changes = diff(before, snapshot(preference, fields))
        if changes:
            audit_record(
                actor=user, action="notification_preferences.update", obj=preference,
                changes=changes,
            )  # fmt: skip
    return preference


# --- reacting to appointment events ---------------------------------------------------


def notifications_for_appointment_event(*, event: EventLike) -> list[Notification]:
    """Email the patient and the clinician about an appointment event (once each).

    Recorded as a background job of the appointment (``GET tasks/appointments/{id}/``),
    one per event: a redelivered event finds the job finished and queues nothing. The job
    lists the notifications with their status when it ran: "pending" under the outbox,
    whose transaction must commit before they are sent.
    """
    kind = KIND_FOR_EVENT[event.name]
    if announced_by_series(event):
        return []
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
        # Our rows were the same rows (unique), and each send is claimed before it runs.
        if exc.code != "job_finished":
            raise
    return sent


def announced_by_series(event: EventLike) -> bool:
    """An occurrence booked with its series, or cancelled by a cancellation of the series:
    the series' own event (``series.created`` / ``series.cancelled``) mails for it."""
    payload = event.payload
    if event.name == "appointment.scheduled":
        return payload.get("series_id") is not None
    return event.name == "appointment.cancelled" and bool(payload.get("series_cancel"))


def notifications_for_series_event(*, event: EventLike) -> list[Notification]:
    """One email to the patient and one to the clinician for a whole series booked or
    cancelled, listing the occurrences the event names on each one's own clock."""
    kind = KIND_FOR_SERIES_EVENT[event.name]
    payload = event.payload
    series_id = payload.get("series_id")
    series = (
        AppointmentSeries.objects.select_related("patient", "clinician")
        .filter(pk=series_id)
        .first()
        if isinstance(series_id, int)
        else None
    )
    if series is None:
        logger.warning("event %s names no known series; nothing to notify", event.id)
        return []
    starts = [moment for moment in map(_parse, payload.get("starts") or []) if moment]
    first = (
        Appointment.objects.filter(pk__in=payload.get("appointment_ids") or [])
        .order_by("start", "pk")
        .first()
    )
    queued = []
    for recipient in (series.patient, series.clinician):
        is_patient = recipient.pk == series.patient_id
        context = {
            "kind": kind,
            "recipient": recipient,
            "with_whom": f"with {series.clinician}"
            if is_patient
            else f"with your patient {series.patient}",
            "times": [format_local(moment, recipient) for moment in starts],
            "skipped": payload.get("skipped") if kind == Kind.SERIES_SCHEDULED else [],
            "series_id": series.pk,
        }
        body = render_to_string("notifications/series_email.txt", context)
        notification, _ = notification_queue(
            recipient=recipient,
            kind=kind,
            event_id=event.id,
            subject=SERIES_SUBJECTS[kind].format(count=len(starts)),
            body=body,
            appointment=first,
        )
        queued.append(notification)
    return queued


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


# --- the one mail path -------------------------------------------------------------------


def notification_queue(
    *,
    recipient: User,
    kind: str,
    event_id: Any,
    subject: str,
    body: str,
    appointment: Appointment | None = None,
) -> tuple[Notification, bool]:
    """Record one email in the caller's transaction; it is sent after that commits.

    Returns ``(notification, created)``. A triple already recorded is not recorded again
    (a redelivered event); one not sent yet is sent (again) after commit, which the send
    claim makes harmless if another worker is on it.
    """
    defaults: dict[str, Any] = {
        "appointment": appointment,
        "channel": Notification.Channel.EMAIL,
        "subject": subject[:200],
        "body": body,
    }
    if kind in HONOURS_PREFERENCES:
        preference = notification_preference_of(recipient)
        if not preference.email:
            defaults["status"] = Status.SKIPPED
        else:
            defaults["not_before"] = quiet_hours_end(
                recipient, timezone.now(), preference=preference
            )
    with transaction.atomic():
        notification, created = Notification.objects.get_or_create(
            event_id=event_id, recipient=recipient, kind=kind, defaults=defaults
        )
        if notification.status not in (Status.SENT, Status.SKIPPED) and not _held(notification):
            _deliver_after_commit(notification.pk)
    return notification, created


def _withheld(notification: Notification, now: datetime) -> bool:
    """The recipient's preferences read again at send time (they may have changed since
    the row was written, or this is a retry): email off now -> ``skipped``; inside quiet
    hours now -> held again until they end. Saves the row; True when nothing is sent."""
    preference = notification_preference_of(notification.recipient)
    if not preference.email:
        notification.status = Status.SKIPPED
        notification.lease_expires_at = None
        notification.save(update_fields=["status", "lease_expires_at"])
        return True
    until = quiet_hours_end(notification.recipient, now, preference=preference)
    if until is None:
        return False
    notification.not_before = until
    # Failed stays failed (its error shown); a lapsed send waits as pending, for the sweep.
    if notification.status != Status.FAILED:
        notification.status = Status.PENDING
    notification.lease_expires_at = None
    notification.save(update_fields=["not_before", "status", "lease_expires_at"])
    return True


def _held(notification: Notification, now: datetime | None = None) -> bool:
    """Waiting for the end of the recipient's quiet hours (the sweep sends it then)."""
    return notification.not_before is not None and notification.not_before > (now or timezone.now())


def _deliver_after_commit(notification_id: int) -> None:
    """Send once the transaction that wrote the row has committed (never inside it: an SMTP
    exchange holding the outbox's row locks would stall every worker behind it). Robust:
    a database error while recording the send must not stop the other commit hooks."""
    transaction.on_commit(
        lambda: notification_deliver(notification_id=notification_id), robust=True
    )


def notification_deliver(*, notification_id: int) -> Notification | None:
    """Send one notification, if it is due and nobody else is sending it; record the outcome.

    Three steps, none holding a lock across the network: claim (a short transaction),
    send (no transaction; ``EMAIL_TIMEOUT`` bounds each socket operation), record.
    """
    claimed = _claim(notification_id)
    if claimed is None:
        return Notification.objects.filter(pk=notification_id).first()
    try:
        _message(claimed).send()
    except Exception as exc:  # any backend error (SMTP, socket, timeout): recorded, retried
        return _record_failure(claimed, exc)
    return _record_sent(claimed)


def _message(notification: Notification) -> EmailMessage:
    """The email of ``notification``; an appointment's booking, move or cancellation
    carries its .ics (``invite.ics``, the feed's UID and SEQUENCE), built from the row as
    it is now so a retried send never carries an outdated version."""
    message = EmailMessage(
        notification.subject,
        notification.body,
        settings.DEFAULT_FROM_EMAIL,
        [notification.recipient.email],
    )
    method = ICS_METHOD_FOR_KIND.get(notification.kind)
    appointment = notification.appointment
    if method is not None and appointment is not None:
        invitation = appointment_invitation(
            appointment, recipient=notification.recipient, method=method
        )
        part = MIMEText(invitation.content.decode(), "calendar", "utf-8")
        part.set_param("method", invitation.method)
        part.add_header("Content-Disposition", "attachment", filename="invite.ics")
        message.attach(part)
    return message


def _send_lease() -> timedelta:
    return timedelta(seconds=settings.NOTIFICATION_SEND_LEASE_SECONDS)


@transaction.atomic
def _claim(notification_id: int) -> Notification | None:
    notification = notification_lock(notification_id)
    if notification is None or notification.status in (Status.SENT, Status.SKIPPED):
        return None
    now = timezone.now()
    if _held(notification, now):
        return None  # quiet hours: the sweep sends it once they end
    if notification.status == Status.SENDING and (
        notification.lease_expires_at is not None and notification.lease_expires_at > now
    ):
        return None  # another worker is sending it right now
    if notification.kind in HONOURS_PREFERENCES and _withheld(notification, now):
        return None
    if notification.attempts >= MAX_ATTEMPTS:
        if notification.status == Status.SENDING:  # its last sender died: give up visibly
            notification.status = Status.FAILED
            notification.last_error = "The worker sending it was lost; attempts exhausted."
            notification.lease_expires_at = None
            notification.save(update_fields=["status", "last_error", "lease_expires_at"])
        return None
    if not notification.body:
        # Rows written before bodies were stored: rendered from the appointment, as then.
        if notification.appointment is None:
            return None
        notification.subject, notification.body = _render(
            notification.kind, notification.recipient, notification.appointment, None
        )
    notification.status = Status.SENDING
    notification.attempts += 1
    notification.lease_expires_at = now + _send_lease()
    notification.save(update_fields=["subject", "body", "status", "attempts", "lease_expires_at"])
    return notification


@transaction.atomic
def _record_sent(claimed: Notification) -> Notification:
    notification = notification_lock(claimed.pk)
    if notification is None or notification.status == Status.SENT:
        return notification or claimed  # a worker that took over after our lease finished
    notification.status = Status.SENT
    notification.sent_at = timezone.now()
    notification.last_error = ""
    notification.lease_expires_at = None
    notification.save(update_fields=["status", "sent_at", "last_error", "lease_expires_at"])
    payload: dict[str, Any] = {
        "notification_id": notification.pk,
        "recipient_id": notification.recipient_id,
        "channel": notification.channel,
        "kind": notification.kind,
        "source_event_id": str(notification.event_id),
    }
    if notification.appointment_id is not None:
        payload["appointment_id"] = notification.appointment_id
    event_publish(
        name="notification.sent",
        payload=payload,
        aggregate=("notifications.notification", notification.pk),
    )
    return notification


@transaction.atomic
def _record_failure(claimed: Notification, exc: Exception) -> Notification:
    notification = notification_lock(claimed.pk)
    if notification is None or notification.status == Status.SENT:
        return notification or claimed
    notification.status = Status.FAILED
    notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    notification.lease_expires_at = None
    notification.save(update_fields=["status", "last_error", "lease_expires_at"])
    logger.warning("notification %s failed: %s", notification.pk, notification.last_error)
    _schedule_retry(notification)
    return notification


def notification_send(
    *,
    recipient: User,
    kind: str,
    event_id: Any,
    appointment: Appointment,
    times: AppointmentTimes | None = None,
) -> Notification:
    """Queue one appointment email unless this (event, recipient, kind) already exists.

    Outside a transaction it is sent before this returns; inside one, after it commits.
    """
    subject, body = _render(kind, recipient, appointment, times)
    notification, _ = notification_queue(
        recipient=recipient,
        kind=kind,
        event_id=event_id,
        subject=subject,
        body=body,
        appointment=appointment,
    )
    notification.refresh_from_db()
    return notification


def notification_retry(*, notification_id: int) -> Notification | None:
    """Try a failed notification again (its retry task, or the periodic sweep)."""
    return notification_deliver(notification_id=notification_id)


@transaction.atomic(durable=True)
def notification_resend(*, notification: Notification, actor: User) -> None:
    """Staff's "send again" (admin): a failed or stuck message gets a fresh set of attempts.

    Sent by a worker (the retry task), never in the admin's request.
    """
    locked = notification_lock(notification.pk)
    if locked is None or locked.status in (Status.SENT, Status.SKIPPED):
        return  # sent, or not wanted (the recipient turned email off)
    locked.status = Status.PENDING
    locked.attempts = 0
    locked.lease_expires_at = None
    locked.save(update_fields=["status", "attempts", "lease_expires_at"])
    audit_record(actor=actor, action="notification.resend", obj=locked)
    notification_id = locked.pk
    transaction.on_commit(lambda: send_task_soon(RETRY_TASK_NAME, (notification_id,)))


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
    """Remind both parties of active appointments starting within 24 h; returns how many
    reminders it queued (each is sent as soon as it is recorded).

    Appointments booked less than 24 h ahead are skipped: their booking email was the
    reminder. Safe to run at any frequency: reminders are keyed by appointment and start,
    and one already recorded is left to the send path (its retries and the sweep).
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
            event_id__in=[reminder_event_id(a) for a in candidates],
        ).values_list("event_id", "recipient_id")
    )
    queued = 0
    for appointment in candidates:
        event_id = reminder_event_id(appointment)
        for recipient in (appointment.patient, appointment.clinician):
            if (event_id, recipient.pk) in done:
                continue
            subject, body = _render(Kind.APPOINTMENT_REMINDER, recipient, appointment, None)
            _, created = notification_queue(
                recipient=recipient,
                kind=Kind.APPOINTMENT_REMINDER,
                event_id=event_id,
                subject=subject,
                body=body,
                appointment=appointment,
            )
            queued += created
    return queued


def notifications_retry_failed(*, older_than: timedelta | None = None) -> int:
    """Send what the normal path left behind; returns how many it tried.

    Failed emails whose retry task was lost (broker down), rows whose after-commit send
    never ran (the process died at commit), and sends whose worker died mid-way (lease
    lapsed), and messages held for the recipient's quiet hours once these end. Each goes
    through ``notification_deliver``, whose claim keeps this from racing a live sender.
    """
    now = timezone.now()
    if older_than is None:
        older_than = timedelta(seconds=settings.NOTIFICATION_SWEEP_AFTER_SECONDS)
    cutoff = now - older_than
    ids = list(
        Notification.objects.filter(
            Q(status=Status.FAILED, attempts__lt=MAX_ATTEMPTS, created_at__lte=cutoff)
            | Q(status=Status.PENDING, created_at__lte=cutoff)
            | Q(status=Status.SENDING, lease_expires_at__lte=now)
        )
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)[:REMINDER_BATCH_SIZE]
    )
    for notification_id in ids:
        notification_deliver(notification_id=notification_id)
    return len(ids)
