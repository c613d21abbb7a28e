"""A shared "clinical world" (consultations, prescriptions, lab results of two patients) for
the tests of every surface that shows clinical records, and a snapshot of what a clinical
request could change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consultations.models import Consultation, ConsultationAddendum, Prescription
from labs.models import LabResult
from scheduling.models import Appointment, Slot
from tests.factories import (
    DoctorFactory,
    LabResultFactory,
    PatientFactory,
    PrescriptionFactory,
    PsychologistFactory,
    StaffFactory,
    completed_consultation,
    scheduled_consultation,
)


@dataclass
class World:
    """Patient A is cared for by ``doctor`` and ``psychologist``; ``other_doctor`` only
    knows patient B. Each record below belongs to patient A unless named ``*_b``."""

    patient_a: Any
    patient_b: Any
    doctor: Any
    other_doctor: Any
    psychologist: Any
    staff: Any
    open_consultation: Consultation
    done_consultation: Consultation
    psych_consultation: Consultation
    consultation_b: Consultation
    prescription: Prescription
    prescription_b: Prescription
    lab_result: LabResult
    lab_result_b: LabResult


def clinical_world() -> World:
    patient_a, patient_b = PatientFactory(), PatientFactory()
    doctor, other_doctor = DoctorFactory(), DoctorFactory()
    psychologist, staff = PsychologistFactory(), StaffFactory()
    open_consultation = scheduled_consultation(doctor, patient_a, notes="Private draft")
    done_consultation = completed_consultation(doctor, patient_a, notes="Final notes")
    psych_consultation = scheduled_consultation(psychologist, patient_a, hours=96)
    consultation_b = completed_consultation(other_doctor, patient_b)
    prescription = PrescriptionFactory.create(consultation=done_consultation, prescriber=doctor)
    prescription_b = PrescriptionFactory.create(
        consultation=consultation_b, prescriber=other_doctor
    )
    lab_result = LabResultFactory.create(patient=patient_a, ordering_clinician=doctor)
    lab_result_b = LabResultFactory.create(patient=patient_b, ordering_clinician=other_doctor)
    return World(
        patient_a=patient_a,
        patient_b=patient_b,
        doctor=doctor,
        other_doctor=other_doctor,
        psychologist=psychologist,
        staff=staff,
        open_consultation=open_consultation,
        done_consultation=done_consultation,
        psych_consultation=psych_consultation,
        consultation_b=consultation_b,
        prescription=prescription,
        prescription_b=prescription_b,
        lab_result=lab_result,
        lab_result_b=lab_result_b,
    )


def db_state() -> dict[str, Any]:
    """Everything a clinical request could change, to assert that a refusal changed nothing."""
    from audit.models import AuditEvent
    from core.models import OutboxEvent

    return {
        "consultations": list(Consultation.objects.order_by("pk").values()),
        "addenda": list(ConsultationAddendum.objects.order_by("pk").values()),
        "prescriptions": list(Prescription.objects.order_by("pk").values()),
        "lab_results": list(LabResult.objects.order_by("pk").values()),
        "appointments": list(Appointment.objects.order_by("pk").values("pk", "status")),
        "slots": list(Slot.objects.order_by("pk").values("pk", "status")),
        "audit_events": AuditEvent.objects.count(),
        "outbox_events": OutboxEvent.objects.count(),
    }
