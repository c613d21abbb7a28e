"""Factories and a shared "clinical world" for consultation, lab and permission tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import factory
from django.utils import timezone

from consultations.models import Consultation, ConsultationAddendum, Prescription
from labs.models import LabResult
from scheduling.models import Appointment, Slot
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
)

_day_offsets = itertools.count()


def appointment_for(clinician, patient, *, hours: float = 72, **fields: Any) -> Appointment:
    """An appointment about ``hours`` from now (negative: in the past) between the two.

    Each call moves a whole number of days further from now, so no two appointments
    overlap (PostgreSQL's exclusion constraints) while past ones stay past.
    """
    away = timedelta(days=next(_day_offsets))
    start = timezone.now().replace(microsecond=0) + timedelta(hours=hours)
    start = start - away if hours < 0 else start + away
    slot = SlotFactory(
        clinician=clinician, start=start, end=start + timedelta(minutes=30), status="booked"
    )
    return cast(Appointment, AppointmentFactory(slot=slot, patient=patient, **fields))


class ConsultationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consultation

    appointment = factory.SubFactory(AppointmentFactory)
    notes = ""


def scheduled_consultation(clinician, patient, *, hours: float = 72, **fields) -> Consultation:
    return ConsultationFactory.create(
        appointment=appointment_for(clinician, patient, hours=hours), **fields
    )


def in_progress_consultation(clinician, patient, **fields) -> Consultation:
    """Started an hour after its (past) start time, so it can be completed."""
    appointment = appointment_for(clinician, patient, hours=-1)
    return ConsultationFactory.create(appointment=appointment, started_at=timezone.now(), **fields)


def completed_consultation(clinician, patient, **fields) -> Consultation:
    appointment = appointment_for(clinician, patient, hours=-3, status="completed")
    now = timezone.now()
    return ConsultationFactory.create(
        appointment=appointment, started_at=now - timedelta(hours=3), completed_at=now, **fields
    )


class PrescriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prescription

    # consultation and prescriber are always given by the caller
    medication = "Amoxicillin"
    dose = "500 mg"
    route = Prescription.Route.ORAL
    frequency = "three times daily"
    duration = "7 days"
    quantity = 21
    refills = 0
    instructions = "Take with food."


class AddendumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsultationAddendum

    text = "Correction: allergy to penicillin noted."
    shared_with_patient = False


class LabResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabResult

    test_code = "2823-3"
    test_name = "Potassium [Moles/volume] in Serum or Plasma"
    value_numeric = Decimal("4.2")
    value_text = ""
    unit = "mmol/L"
    reference_low = Decimal("3.5")
    reference_high = Decimal("5.1")
    critical_low = Decimal("2.5")
    critical_high = Decimal("6.5")
    flag = "normal"
    status = LabResult.Status.FINAL
    collected_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2))
    reported_at = factory.LazyFunction(timezone.now)


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
