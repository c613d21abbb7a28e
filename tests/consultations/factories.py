"""Factories of the consultations app: consultations at each stage, prescriptions, addenda."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from consultations.models import Consultation, ConsultationAddendum, Prescription
from tests.scheduling.factories import AppointmentFactory, appointment_for


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
