"""Labs' subscriber: a critical result notifies its ordering clinician at once.

``lab_result.created`` is delivered right after commit (and by the sweep if the broker
was down). The outbox runs this handler in one transaction with its delivery row, and
``Notification`` is unique per (event, recipient, kind): one critical result, exactly
one notification, however often the event is redelivered.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from accounts.models import User
from core.models import OutboxEvent
from core.outbox import event_publish, subscriber
from labs.models import LabResult
from notifications.models import Notification

# Notification.Kind has no lab entry yet; the value fits its column (see docs/clinical.md).
CRITICAL_KIND = Notification.Kind.LAB_RESULT_CRITICAL


@subscriber("lab_result.created", name="labs.notify_critical")
def lab_result_notify_critical(event: OutboxEvent) -> None:
    if event.payload.get("flag") != LabResult.Flag.CRITICAL:
        return
    result = (
        LabResult.objects.select_related("ordering_clinician")
        .filter(pk=event.payload.get("lab_result_id"))
        .first()
    )
    if result is None:
        return
    lab_result_critical_notify(result=result, event_id=event.id)


def lab_result_critical_notify(*, result: LabResult, event_id: object) -> Notification:
    clinician: User = result.ordering_clinician
    subject = f"Critical lab result: {result.test_name}"
    notification, created = Notification.objects.get_or_create(
        event_id=event_id,
        recipient=clinician,
        kind=CRITICAL_KIND,
        defaults={"channel": Notification.Channel.EMAIL, "subject": subject},
    )
    if not created and notification.status == Notification.Status.SENT:
        return notification
    # No value in the email: it may travel unencrypted. The clinician opens Carebook.
    body = (
        f"A critical result was recorded for one of your patients: {result.test_name} "
        f"({result.test_code}), reported {result.reported_at:%Y-%m-%d %H:%M} UTC.\n"
        f"Open lab result {result.pk} in Carebook to review it.\n"
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [clinician.email])
    notification.status = Notification.Status.SENT
    notification.sent_at = timezone.now()
    notification.attempts += 1
    notification.save(update_fields=["status", "sent_at", "attempts"])
    event_publish(
        name="notification.sent",
        payload={
            "notification_id": notification.pk,
            "recipient_id": clinician.pk,
            "channel": notification.channel,
            "kind": CRITICAL_KIND,
            "source_event_id": str(event_id),
            "lab_result_id": result.pk,
        },
        aggregate=("notifications.notification", notification.pk),
    )
    return notification
