"""Bring an older demo database into the present: every demo visit that has ended but is
still booked (scheduled or confirmed, in progress) is recorded as it would have been,
through the consultation lifecycle at its own time: completed with a short note, or,
for about one in nine not yet begun, a no-show. Only visits between demo accounts are touched.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from dashboard.demo.log import DemoLog
from dashboard.demo.people import DEMO_DOMAIN
from dashboard.demo.visits import Outcome, consultation_of, visit_finish
from scheduling.models import Appointment

NO_SHOW_EVERY = 9
NOTE = "Demo note: the visit went as planned."


def demo_appointments() -> QuerySet[Appointment]:
    domain = f"@{DEMO_DOMAIN}"
    return Appointment.objects.filter(
        patient__email__iendswith=domain, clinician__email__iendswith=domain
    )


def _outcome_of(appointment: Appointment) -> str:
    """Completed, or now and then a no-show (never for a visit that had begun)."""
    begun = consultation_of(appointment).started_at is not None
    if appointment.pk % NO_SHOW_EVERY == 0 and not begun:
        return Outcome.NO_SHOW
    return Outcome.COMPLETED


def refresh_past_visits(*, now: datetime, log: DemoLog) -> None:
    stale = (
        demo_appointments()
        .filter(status__in=Appointment.ACTIVE_STATUSES, end__lte=now)
        .select_related("clinician", "patient")
        .order_by("start", "pk")
    )
    for appointment in stale:
        outcome = _outcome_of(appointment)
        visit_finish(appointment, appointment.clinician, outcome=outcome, notes=NOTE)
        log.created(
            f"past visit {appointment.pk} ({appointment.patient.first_name} with "
            f"{appointment.clinician.first_name}) recorded as {outcome}"
        )
