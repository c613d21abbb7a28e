"""Every row lock of consultations, in one order: appointment → consultation → prescription.

The appointment comes first because scheduling's services (called from here in the
same transaction) lock it too; taking it first means both apps agree on the order.
"""

from __future__ import annotations

from consultations.models import Consultation, Prescription
from scheduling.lock_objects import appointment_lock


def consultation_lock(consultation: Consultation) -> Consultation:
    """Lock the consultation's appointment, then the consultation; return a fresh copy."""
    appointment_lock(consultation.appointment_id)
    return (
        Consultation.objects.select_for_update()
        .select_related("appointment")
        .get(pk=consultation.pk)
    )


def prescription_lock(prescription_id: int) -> Prescription:
    return Prescription.objects.select_for_update().get(pk=prescription_id)
