"""The clinical records on the demo's completed visits: addenda, prescriptions (their
PDF is rendered from the row by ``consultations.pdf`` whenever it is asked for) and lab
results: normal, high, and one critical whose notification reaches the clinician.

Each is written through its service under the demo clock, shortly after the visit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from consultations.models import Prescription
from consultations.services import consultation_addendum_add, prescription_create
from core.models import OutboxEvent
from core.outbox import outbox_event_deliver
from dashboard.demo.clock import clock_at
from dashboard.demo.visits import consultation_of
from labs.flags import Ranges
from labs.models import LabResult
from labs.services import lab_result_record
from scheduling.models import Appointment

PRESCRIPTIONS = (
    {
        "medication": "Demo-cillin (fictional)",
        "dose": "500 mg",
        "route": Prescription.Route.ORAL,
        "frequency": "three times daily",
        "duration": "7 days",
        "quantity": 21,
        "refills": 0,
        "instructions": "Demo prescription: take with food.",
    },
    {
        "medication": "Placebolol (fictional)",
        "dose": "5 mg",
        "route": Prescription.Route.ORAL,
        "frequency": "once daily",
        "duration": "30 days",
        "quantity": 30,
        "refills": 2,
        "instructions": "Demo prescription: in the morning.",
    },
)

# test code, name, unit, (reference low, high, critical low, high)
LAB_TESTS = {
    "potassium": ("K", "Potassium", "mmol/L", ("3.5", "5.1", "2.5", "6.2")),
    "glucose": ("GLU", "Glucose (fasting)", "mmol/L", ("3.9", "5.6", "2.2", "25.0")),
    "tsh": ("TSH", "Thyroid stimulating hormone", "mIU/L", ("0.4", "4.0", None, None)),
}


def addendum_add(appointment: Appointment, *, now: datetime, text: str) -> None:
    """The clinician adds to the record the next day (or now, if that is sooner)."""
    consultation = consultation_of(appointment)
    with clock_at(min(appointment.end + timedelta(days=1), now)):
        consultation_addendum_add(
            actor=appointment.clinician,
            consultation_id=consultation.pk,
            text=text,
            shared_with_patient=True,
        )


def prescription_add(appointment: Appointment, *, which: int) -> Prescription:
    consultation = consultation_of(appointment)
    with clock_at(appointment.end + timedelta(minutes=2)):
        return prescription_create(
            actor=appointment.clinician,
            consultation_id=consultation.pk,
            **PRESCRIPTIONS[which % len(PRESCRIPTIONS)],
        )


def _ranges(bounds: tuple[str | None, ...]) -> Ranges:
    low, high, critical_low, critical_high = (Decimal(b) if b is not None else None for b in bounds)
    return Ranges(low, high, critical_low, critical_high)


def lab_result_add(appointment: Appointment, *, test: str, value: str, now: datetime) -> LabResult:
    """A result of a sample taken at the visit, reported the next morning (or now). A
    critical one's notification is delivered at once, through the outbox as the worker
    would, so the clinician's alert is there before any worker runs."""
    code, name, unit, bounds = LAB_TESTS[test]
    collected = appointment.start + timedelta(minutes=10)
    reported = min(appointment.end + timedelta(hours=18), now)
    with clock_at(reported):
        result = lab_result_record(
            actor=appointment.clinician,
            patient_id=appointment.patient_id,
            test_code=code,
            test_name=name,
            value_numeric=Decimal(value),
            value_text="",
            unit=unit,
            ranges=_ranges(bounds),
            collected_at=collected,
            reported_at=reported,
            status=LabResult.Status.FINAL,
            consultation_id=consultation_of(appointment).pk,
        )
        if result.flag == LabResult.Flag.CRITICAL:
            _deliver_now(result)
    return result


def _deliver_now(result: LabResult) -> None:
    events = OutboxEvent.objects.filter(
        name="lab_result.created", payload__lab_result_id=result.pk
    ).values_list("id", flat=True)
    for event_id in events:
        outbox_event_deliver(event_id=event_id)
