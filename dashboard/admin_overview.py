"""The clinic overview on the admin index: what staff need to see first thing.

Counts only (one query each), plus the audit chain's state as the periodic verification
(``audit.verify_chain``) last stored it: the request reads one row, never the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from audit.models import AuditChainCheckpoint
from audit.selectors import audit_chain_checkpoint
from audit.services import audit_chain_verify_incremental
from core.models import Job
from dashboard.selectors import day_bounds
from notifications.models import Notification
from scheduling.models import Appointment, Slot

# Beat verifies every minute; a result older than this means the verification stopped.
AUDIT_CHECK_STALE_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class AuditChainStatus:
    ok: bool
    checked: int
    unsealed: int
    broken_event_id: int | None
    reason: str
    checked_at: datetime | None  # None: never verified yet

    @property
    def stale(self) -> bool:
        return self.checked_at is None or (
            timezone.now() - self.checked_at > AUDIT_CHECK_STALE_AFTER
        )


@dataclass(frozen=True)
class ClinicOverview:
    appointments_today: dict[str, int]
    open_slots: int
    pending_jobs: int
    failed_notifications: int
    audit: AuditChainStatus
    links: dict[str, str]

    @property
    def appointments_today_total(self) -> int:
        return sum(self.appointments_today.values())


def _status(checkpoint: AuditChainCheckpoint | None) -> AuditChainStatus:
    if checkpoint is None:
        return AuditChainStatus(
            ok=True, checked=0, unsealed=0, broken_event_id=None, reason="", checked_at=None
        )
    return AuditChainStatus(
        ok=checkpoint.ok,
        checked=checkpoint.verified_count,
        unsealed=checkpoint.unsealed,
        broken_event_id=checkpoint.broken_event_id,
        reason=checkpoint.reason,
        checked_at=checkpoint.checked_at,
    )


def audit_chain_status(*, refresh: bool = False) -> AuditChainStatus:
    """The stored result of the chain's verification (one query).

    ``refresh`` first verifies the links sealed since the checkpoint, in this process: for
    tests and the shell, never for a page.
    """
    if refresh:
        return _status(audit_chain_verify_incremental())
    return _status(audit_chain_checkpoint())


def _link(name: str, query: str = "") -> str:
    try:
        return reverse(name) + query
    except NoReverseMatch:
        return ""


def clinic_overview(*, user: Any) -> ClinicOverview:
    today = timezone.now().astimezone(user.tzinfo).date()
    start, end = day_bounds(today, user)
    by_status = (
        Appointment.objects.filter(start__gte=start, start__lt=end)
        .values("status")
        .annotate(n=Count("id"))
        .order_by("status")
    )
    return ClinicOverview(
        appointments_today={row["status"]: row["n"] for row in by_status},
        open_slots=Slot.objects.filter(status=Slot.Status.OPEN, start__gt=timezone.now()).count(),
        pending_jobs=Job.objects.filter(status__in=["queued", "running"]).count(),
        failed_notifications=Notification.objects.filter(status=Notification.Status.FAILED).count(),
        audit=audit_chain_status(),
        links={
            "appointments": _link(
                "admin:scheduling_appointment_changelist",
                f"?start__year={today.year}&start__month={today.month}&start__day={today.day}",
            ),
            "slots": _link("admin:scheduling_slot_changelist", "?status__exact=open"),
            "jobs": _link("admin:core_job_changelist", "?status__exact=queued"),
            "notifications": _link(
                "admin:notifications_notification_changelist", "?status__exact=failed"
            ),
            "audit": _link("admin:audit_auditevent_changelist"),
        },
    )
