"""Tell the owner of a report that it is ready (at most once per event: outbox delivery)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import User
from core.models import OutboxEvent
from core.outbox import subscriber


@subscriber("report.completed", name="reports.notify_owner")
def notify_report_owner(event: OutboxEvent) -> None:
    owner = User.objects.filter(pk=event.payload.get("requested_by"), is_active=True).first()
    if owner is None:
        return
    job_id = event.payload["job_id"]
    send_mail(
        subject="Your Carebook report is ready",
        message=(
            f"The report you asked for is ready to download:\n/api/v1/jobs/{job_id}/download/\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[owner.email],
    )
