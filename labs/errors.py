"""Lab errors: one class per stable code."""

from __future__ import annotations

from enum import StrEnum

from core.errors import Conflict, InvalidRequest, NotAllowed, NotFound


class LabErrorCode(StrEnum):
    LAB_RESULT_NOT_FOUND = "lab_result_not_found"
    PATIENT_NOT_FOUND = "patient_not_found"
    CONSULTATION_NOT_FOUND = "consultation_not_found"
    ALREADY_SUPERSEDED = "lab_result_already_superseded"
    INVALID_LAB_RESULT = "invalid_lab_result"
    NOT_ORDERING_CLINICIAN = "not_ordering_clinician"


class LabResultNotFound(NotFound):
    code = LabErrorCode.LAB_RESULT_NOT_FOUND
    message = "Lab result not found."


class PatientNotFound(NotFound):
    code = LabErrorCode.PATIENT_NOT_FOUND
    message = "Patient not found."


class ConsultationNotFound(NotFound):
    code = LabErrorCode.CONSULTATION_NOT_FOUND
    message = "Consultation not found."


class AlreadySuperseded(Conflict):
    code = LabErrorCode.ALREADY_SUPERSEDED
    message = "That lab result was already corrected; correct the latest version."


class InvalidLabResult(InvalidRequest):
    code = LabErrorCode.INVALID_LAB_RESULT
    message = "The lab result is invalid."


class NotOrderingClinician(NotAllowed):
    code = LabErrorCode.NOT_ORDERING_CLINICIAN
    message = (
        "Only the clinician who ordered this result may correct it; ask them, or the back office."
    )
