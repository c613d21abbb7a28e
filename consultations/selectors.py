"""Reads of consultations and prescriptions. Every query starts at a ``*_visible_to``."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from accounts.permissions import is_record_clinician, is_record_patient
from consultations.access import related_patient_ids
from consultations.errors import ConsultationNotFound, PrescriptionNotFound
from consultations.lifecycle import status_expression
from consultations.models import Consultation, ConsultationAddendum, Prescription


def consultations_visible_to(user: User) -> QuerySet[Consultation]:
    if is_record_patient(user):
        return Consultation.objects.filter(appointment__patient_id=user.pk)
    if is_record_clinician(user):
        return Consultation.objects.filter(appointment__patient_id__in=related_patient_ids(user))
    return Consultation.objects.none()


def _consultation_relations(queryset: QuerySet[Consultation]) -> QuerySet[Consultation]:
    return queryset.select_related(
        "appointment", "appointment__patient", "appointment__clinician"
    ).prefetch_related("addenda")


def consultations_list(
    *, user: User, status: str | None = None, patient_id: int | None = None
) -> QuerySet[Consultation]:
    queryset = _consultation_relations(consultations_visible_to(user)).annotate(
        derived_status=status_expression()
    )
    if status is not None:
        queryset = queryset.filter(derived_status=status)
    if patient_id is not None:
        queryset = queryset.filter(appointment__patient_id=patient_id)
    return queryset.order_by("-appointment__start", "-id")


def consultation_get_for(*, user: User, consultation_id: int) -> Consultation:
    consultation = (
        _consultation_relations(consultations_visible_to(user)).filter(pk=consultation_id).first()
    )
    if consultation is None:
        raise ConsultationNotFound()
    return consultation


def consultation_id_for_appointment(*, user: User, appointment_id: int) -> int:
    """The id of an appointment's consultation, as ``user`` may see it (a read: every
    appointment gets its consultation when it is booked)."""
    found = (
        consultations_visible_to(user)
        .filter(appointment_id=appointment_id)
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        raise ConsultationNotFound()
    return found


def notes_visible(consultation: Consultation, user: User) -> bool:
    """The consultation's clinician reads the notes; the patient only when shared.

    Other clinicians of the patient see that the consultation exists, not its notes
    (a psychologist's notes are not a general practitioner's business).
    """
    appointment = consultation.appointment
    if user.pk == appointment.clinician_id:
        return True
    return user.pk == appointment.patient_id and consultation.notes_shared_with_patient


def addenda_visible(consultation: Consultation, user: User) -> list[ConsultationAddendum]:
    addenda = list(consultation.addenda.all())
    if user.pk == consultation.appointment.clinician_id:
        return addenda
    if user.pk == consultation.appointment.patient_id:
        return [addendum for addendum in addenda if addendum.shared_with_patient]
    return []


def prescriptions_visible_to(user: User) -> QuerySet[Prescription]:
    if is_record_patient(user):
        return Prescription.objects.filter(consultation__appointment__patient_id=user.pk)
    if is_record_clinician(user):
        return Prescription.objects.filter(
            consultation__appointment__patient_id__in=related_patient_ids(user)
        )
    return Prescription.objects.none()


def _prescription_relations(queryset: QuerySet[Prescription]) -> QuerySet[Prescription]:
    return queryset.select_related(
        "prescriber",
        "cancelled_by",
        "consultation__appointment",
        "consultation__appointment__patient",
    )


def prescriptions_list(
    *, user: User, patient_id: int | None = None, status: str | None = None
) -> QuerySet[Prescription]:
    queryset = _prescription_relations(prescriptions_visible_to(user))
    if patient_id is not None:
        queryset = queryset.filter(consultation__appointment__patient_id=patient_id)
    if status is not None:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-issued_at", "-id")


def prescription_get_for(*, user: User, prescription_id: int) -> Prescription:
    prescription = (
        _prescription_relations(prescriptions_visible_to(user)).filter(pk=prescription_id).first()
    )
    if prescription is None:
        raise PrescriptionNotFound()
    return prescription


def prescription_patient_id(prescription: Prescription) -> int:
    return prescription.consultation.appointment.patient_id
