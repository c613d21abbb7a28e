"""Tell the owner of a report that it is ready (at most once per event: outbox delivery).

The message is a ``Notification`` like every other email: recorded in the outbox's
transaction, sent after commit by ``notifications``, retried on failure, listed in the
admin.
"""

from __future__ import annotations

from accounts.models import User
from core.models import OutboxEvent
from core.outbox import subscriber
from notifications.models import Notification
from notifications.services import notification_queue

REPORT_READY_SUBJECT = "Your Carebook report is ready"


@subscriber("report.completed", name="reports.notify_owner")
def notify_report_owner(event: OutboxEvent) -> None:
    owner = User.objects.filter(pk=event.payload.get("requested_by"), is_active=True).first()
    if owner is None:
        return
    job_id = event.payload["job_id"]
    notification_queue(
        recipient=owner,
        kind=Notification.Kind.REPORT_READY,
        event_id=event.id,
        subject=REPORT_READY_SUBJECT,
        body=f"The report you asked for is ready to download:\n/api/v1/jobs/{job_id}/download/\n",
    )
