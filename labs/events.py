"""Labs' subscriber: a critical result notifies its ordering clinician at once.

``lab_result.created`` is delivered right after commit (and by the sweep if the broker
was down). The outbox runs this handler in one transaction with its delivery row; the
handler only records the ``Notification`` (unique per event, recipient and kind), which
``notifications`` sends after that transaction commits, retrying on failure. One critical
result, exactly one notification, however often the event is redelivered.
"""

from __future__ import annotations

from accounts.models import User
from core.models import OutboxEvent
from core.outbox import subscriber
from labs.models import LabResult
from notifications.models import Notification
from notifications.services import notification_queue

CRITICAL_KIND = Notification.Kind.LAB_RESULT_CRITICAL
CRITICAL_SUBJECT = "Critical lab result for one of your patients"


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
    # Neither the value nor the test: the email may travel unencrypted and the message is
    # kept in the admin's notification log. The clinician opens Carebook to read it.
    body = (
        "A critical result was recorded for one of your patients, "
        f"reported {result.reported_at:%Y-%m-%d %H:%M} UTC.\n"
        f"Open lab result {result.pk} in Carebook to review it.\n"
    )
    notification, _ = notification_queue(
        recipient=clinician,
        kind=CRITICAL_KIND,
        event_id=event_id,
        subject=CRITICAL_SUBJECT,
        body=body,
    )
    return notification
