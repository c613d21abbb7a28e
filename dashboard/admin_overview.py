"""The clinic overview on the admin index: what staff need to see first thing.

Counts only (one query each), plus the audit chain's verification, which walks the whole
chain and is therefore cached for ``AUDIT_CHECK_SECONDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from audit.services import audit_chain_verify
from core.models import Job
from dashboard.selectors import day_bounds
from notifications.models import Notification
from scheduling.models import Appointment, Slot

AUDIT_CHECK_SECONDS = 300
AUDIT_CHECK_CACHE_KEY = "dashboard:audit-chain-report"


@dataclass(frozen=True)
class AuditChainStatus:
    ok: bool
    checked: int
    unsealed: int
    broken_event_id: int | None
    reason: str
    checked_at: datetime


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


def audit_chain_status(*, refresh: bool = False) -> AuditChainStatus:
    cached = None if refresh else cache.get(AUDIT_CHECK_CACHE_KEY)
    if isinstance(cached, AuditChainStatus):
        return cached
    report = audit_chain_verify()
    status = AuditChainStatus(
        ok=report.ok,
        checked=report.checked,
        unsealed=report.unsealed,
        broken_event_id=report.broken_event_id,
        reason=report.reason,
        checked_at=timezone.now(),
    )
    cache.set(AUDIT_CHECK_CACHE_KEY, status, AUDIT_CHECK_SECONDS)
    return status


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
