"""Consultation and prescription errors: one class per stable code."""

from __future__ import annotations

from enum import StrEnum

from core.errors import Conflict, InvalidRequest, NotAllowed, NotFound


class ConsultationErrorCode(StrEnum):
    CONSULTATION_NOT_FOUND = "consultation_not_found"
    PRESCRIPTION_NOT_FOUND = "prescription_not_found"
    INVALID_TRANSITION = "invalid_transition"
    CONSULTATION_IMMUTABLE = "consultation_immutable"
    CONSULTATION_CLOSED = "consultation_closed"
    CONSULTATION_NOT_COMPLETED = "consultation_not_completed"
    NOT_CONSULTATION_CLINICIAN = "not_consultation_clinician"
    NOT_PRESCRIBER = "not_prescriber"
    PRESCRIPTION_CANCELLED = "prescription_already_cancelled"
    EMPTY_UPDATE = "empty_update"


class ConsultationNotFound(NotFound):
    code = ConsultationErrorCode.CONSULTATION_NOT_FOUND
    message = "Consultation not found."


class PrescriptionNotFound(NotFound):
    code = ConsultationErrorCode.PRESCRIPTION_NOT_FOUND
    message = "Prescription not found."


class InvalidTransition(Conflict):
    code = ConsultationErrorCode.INVALID_TRANSITION
    message = "The consultation cannot move to that status."


class ConsultationImmutable(Conflict):
    code = ConsultationErrorCode.CONSULTATION_IMMUTABLE
    message = "A completed consultation cannot change; add an addendum instead."


class ConsultationClosed(Conflict):
    code = ConsultationErrorCode.CONSULTATION_CLOSED
    message = "The consultation is closed (cancelled or no-show) and cannot change."


class ConsultationNotCompleted(Conflict):
    code = ConsultationErrorCode.CONSULTATION_NOT_COMPLETED
    message = "The consultation is not completed yet."


class NotConsultationClinician(NotAllowed):
    code = ConsultationErrorCode.NOT_CONSULTATION_CLINICIAN
    message = "Only the appointment's clinician may change this consultation."


class NotPrescriber(NotAllowed):
    code = ConsultationErrorCode.NOT_PRESCRIBER
    message = "Only the prescriber may cancel this prescription."


class PrescriptionAlreadyCancelled(Conflict):
    code = ConsultationErrorCode.PRESCRIPTION_CANCELLED
    message = "The prescription is already cancelled."


class EmptyUpdate(InvalidRequest):
    code = ConsultationErrorCode.EMPTY_UPDATE
    message = "Send at least one field to change."
