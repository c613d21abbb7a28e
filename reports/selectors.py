"""The figures of each report, read through scheduling's access rule.

Both reports start at ``appointments_visible_to(user)``: a clinician's caseload can only
ever count that clinician's appointments, and the volume report is for staff, who see all.
An appointment belongs to a report when it *starts* inside [start, end).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q

from accounts.models import User
from scheduling.models import Appointment
from scheduling.selectors import appointments_visible_to

Status = Appointment.Status

CASELOAD_COLUMNS = (
    "patient_id",
    "patient_name",
    "patient_email",
    "appointments",
    "sessions",
    "no_shows",
    "cancellations",
    "upcoming",
)
VOLUME_COLUMNS = ("clinician_id", "clinician_name", "status", "appointments")

Row = tuple[object, ...]


def _in_range(user: User, start: datetime, end: datetime) -> object:
    return appointments_visible_to(user).filter(start__gte=start, start__lt=end)


def caseload_rows(*, clinician: User, start: datetime, end: datetime) -> list[Row]:
    """Per client of ``clinician``: sessions held, no-shows, cancellations, still booked."""
    counts = (
        appointments_visible_to(clinician)
        .filter(start__gte=start, start__lt=end)
        .values("patient_id", "patient__first_name", "patient__last_name", "patient__email")
        .annotate(
            appointments=Count("id"),
            sessions=Count("id", filter=Q(status=Status.COMPLETED)),
            no_shows=Count("id", filter=Q(status=Status.NO_SHOW)),
            cancellations=Count("id", filter=Q(status=Status.CANCELLED)),
            upcoming=Count("id", filter=Q(status__in=Appointment.ACTIVE_STATUSES)),
        )
        .order_by("patient__last_name", "patient__first_name", "patient_id")
    )
    return [
        (
            c["patient_id"],
            f"{c['patient__first_name']} {c['patient__last_name']}".strip(),
            c["patient__email"],
            c["appointments"],
            c["sessions"],
            c["no_shows"],
            c["cancellations"],
            c["upcoming"],
        )
        for c in counts
    ]


def appointment_volume_rows(*, staff: User, start: datetime, end: datetime) -> list[Row]:
    """Appointments per clinician and status (staff: every clinician)."""
    counts = (
        appointments_visible_to(staff)
        .filter(start__gte=start, start__lt=end)
        .values("clinician_id", "clinician__first_name", "clinician__last_name", "status")
        .annotate(appointments=Count("id"))
        .order_by("clinician__last_name", "clinician__first_name", "clinician_id", "status")
    )
    return [
        (
            c["clinician_id"],
            f"{c['clinician__first_name']} {c['clinician__last_name']}".strip(),
            c["status"],
            c["appointments"],
        )
        for c in counts
    ]
