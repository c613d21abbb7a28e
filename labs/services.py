"""Lab result writes: record (with its computed flag) and correct by superseding.

A result is corrected by the clinician who ordered it, or by staff through the admin
(``lab_result_correct_by_staff``: a transcription error the laboratory reports); every
other clinician of the patient may read it but not correct it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import Role, User
from accounts.permissions import is_record_clinician
from consultations.access import patient_visible_to
from consultations.selectors import consultations_visible_to
from core.audit import audit_record, fingerprint
from core.errors import RoleNotAllowed
from core.outbox import event_publish
from labs.errors import (
    AlreadySuperseded,
    ConsultationNotFound,
    InvalidLabResult,
    LabResultNotFound,
    NotOrderingClinician,
    PatientNotFound,
)
from labs.flags import Ranges, compute_flag
from labs.lock_objects import lab_result_lock
from labs.models import LabResult
from labs.selectors import lab_results_visible_to


def _check_ranges(ranges: Ranges) -> None:
    problems = ranges.problems()
    if problems:
        raise InvalidLabResult(
            "The reference and critical ranges are inconsistent.",
            details={"fields": {name: [text] for name, text in problems.items()}},
        )


def _check_value(value_numeric: Decimal | None, value_text: str) -> None:
    if (value_numeric is None) == (value_text == ""):
        raise InvalidLabResult("Send exactly one value, a number or a text.")


def _check_times(collected_at: datetime, reported_at: datetime) -> None:
    if reported_at < collected_at:
        raise InvalidLabResult(
            "reported_at is before collected_at.",
            details={"fields": {"reported_at": ["Must not be before collected_at."]}},
        )


def _not_superseded(original: LabResult) -> None:
    if LabResult.objects.filter(supersedes_id=original.pk).exists():
        raise AlreadySuperseded(details={"supersedes": original.pk})


def _superseded(actor: User, supersedes_id: int, patient_id: int, test_code: str) -> LabResult:
    original = lab_result_lock(supersedes_id, queryset=lab_results_visible_to(actor))
    if original is None:
        raise LabResultNotFound(details={"supersedes": supersedes_id})
    # Seeing a result (every clinician of the patient does) is not owning it: a correction
    # changes what every reader and the critical alert rely on, so it stays with the
    # clinician who ordered it (docs/clinical.md).
    if original.ordering_clinician_id != actor.pk:
        raise NotOrderingClinician(details={"supersedes": supersedes_id})
    if original.patient_id != patient_id or original.test_code != test_code:
        raise InvalidLabResult(
            "A correction keeps the patient and the test code of the result it supersedes.",
            details={"supersedes": supersedes_id},
        )
    _not_superseded(original)
    return original


def lab_result_role_check(*, actor: User) -> None:
    """Doctors and psychologists record results; patients and staff (API) may not: 403."""
    if not is_record_clinician(actor):
        raise RoleNotAllowed(details={"allowed_roles": [Role.DOCTOR, Role.PSYCHOLOGIST]})


@transaction.atomic
def lab_result_record(
    *,
    actor: User,
    patient_id: int,
    test_code: str,
    test_name: str,
    value_numeric: Decimal | None,
    value_text: str,
    unit: str,
    ranges: Ranges,
    collected_at: datetime,
    reported_at: datetime,
    status: str,
    consultation_id: int | None = None,
    supersedes_id: int | None = None,
) -> LabResult:
    """Record a result ordered by ``actor`` (a clinician of the patient); flag computed here.

    With ``supersedes_id`` this is a correction, which only the clinician who ordered the
    superseded result may make (another clinician of the patient: 403; unseen: 404).
    """
    lab_result_role_check(actor=actor)
    if not patient_visible_to(actor, patient_id):
        raise PatientNotFound(details={"patient": patient_id})
    if (
        consultation_id is not None
        and not consultations_visible_to(actor)
        .filter(pk=consultation_id, appointment__patient_id=patient_id)
        .exists()
    ):
        raise ConsultationNotFound(details={"consultation": consultation_id})
    _check_value(value_numeric, value_text)
    _check_times(collected_at, reported_at)
    _check_ranges(ranges)
    original = None
    if supersedes_id is not None:
        original = _superseded(actor, supersedes_id, patient_id, test_code)
        status = LabResult.Status.CORRECTED
    elif status == LabResult.Status.CORRECTED:
        raise InvalidLabResult(
            "A corrected result names the result it supersedes.",
            details={"fields": {"supersedes": ["Required when status is corrected."]}},
        )
    result = LabResult.objects.create(
        patient_id=patient_id,
        ordering_clinician=actor,
        consultation_id=consultation_id,
        test_code=test_code,
        test_name=test_name,
        value_numeric=value_numeric,
        value_text=value_text,
        unit=unit,
        reference_low=ranges.reference_low,
        reference_high=ranges.reference_high,
        critical_low=ranges.critical_low,
        critical_high=ranges.critical_high,
        flag=compute_flag(value_numeric, ranges),
        status=status,
        collected_at=collected_at,
        reported_at=reported_at,
        supersedes=original,
    )
    _audit_and_publish(actor, result)
    return result


@transaction.atomic
def lab_result_correct_by_staff(
    *,
    actor: User,
    supersedes_id: int,
    value_numeric: Decimal | None,
    value_text: str,
    unit: str,
    ranges: Ranges,
    reported_at: datetime,
) -> LabResult:
    """The back office's correction of a result (the admin's "Correct" page).

    For errors the laboratory reports after the ordering clinician is gone or unreachable.
    The correction keeps the original's patient, test, consultation, collection time and
    ordering clinician (who stays responsible for it and gets its critical alert); the
    audit row names the staff member who made it.
    """
    if not (actor.is_authenticated and actor.is_active and actor.is_staff):
        raise RoleNotAllowed(details={"allowed_roles": [Role.STAFF]})
    original = lab_result_lock(supersedes_id, queryset=LabResult.objects.all())
    if original is None:
        raise LabResultNotFound(details={"supersedes": supersedes_id})
    _check_value(value_numeric, value_text)
    _check_times(original.collected_at, reported_at)
    _check_ranges(ranges)
    _not_superseded(original)
    result = LabResult.objects.create(
        patient_id=original.patient_id,
        ordering_clinician_id=original.ordering_clinician_id,
        consultation_id=original.consultation_id,
        test_code=original.test_code,
        test_name=original.test_name,
        value_numeric=value_numeric,
        value_text=value_text,
        unit=unit,
        reference_low=ranges.reference_low,
        reference_high=ranges.reference_high,
        critical_low=ranges.critical_low,
        critical_high=ranges.critical_high,
        flag=compute_flag(value_numeric, ranges),
        status=LabResult.Status.CORRECTED,
        collected_at=original.collected_at,
        reported_at=reported_at,
        supersedes=original,
    )
    _audit_and_publish(actor, result, via="admin")
    return result


def _clinical_values(result: LabResult) -> dict[str, Any]:
    return {
        "test_code": result.test_code,
        "test_name": result.test_name,
        "value": result.value,
        "unit": result.unit,
        "reference_range": [
            None if bound is None else str(bound)
            for bound in (
                result.reference_low,
                result.reference_high,
                result.critical_low,
                result.critical_high,
            )
        ],
        "flag": result.flag,
    }


def _audit_and_publish(actor: User, result: LabResult, *, via: str = "") -> None:
    # Values, flags, units and ranges are clinical data (staff read the audit log): the
    # row says which fields were recorded, with fingerprints, and never the values.
    recorded: dict[str, Any] = {
        name: fingerprint(value) for name, value in _clinical_values(result).items()
    }
    recorded.update(
        patient_id=result.patient_id,
        ordering_clinician_id=result.ordering_clinician_id,
        status=result.status,
        supersedes=result.supersedes_id,
    )
    audit_record(
        actor=actor,
        action="lab_result.correct" if result.supersedes_id else "lab_result.create",
        obj=result,
        changes={name: {"before": None, "after": value} for name, value in recorded.items()},
        metadata={"via": via} if via else None,
    )
    event_publish(
        name="lab_result.created",
        payload={
            "lab_result_id": result.pk,
            "patient_id": result.patient_id,
            "ordering_clinician_id": result.ordering_clinician_id,
            "consultation_id": result.consultation_id,
            "test_code": result.test_code,
            "status": result.status,
            "flag": result.flag,
            "supersedes": result.supersedes_id,
        },
        aggregate=("lab_result", result.pk),
    )
