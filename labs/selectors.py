"""Reads of lab results. Every query starts at ``lab_results_visible_to``."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from accounts.permissions import is_record_clinician, is_record_patient
from consultations.access import related_patient_ids
from labs.errors import LabResultNotFound
from labs.models import LabResult


def lab_results_visible_to(user: User) -> QuerySet[LabResult]:
    if is_record_patient(user):
        return LabResult.objects.filter(patient_id=user.pk)
    if is_record_clinician(user):
        return LabResult.objects.filter(patient_id__in=related_patient_ids(user))
    return LabResult.objects.none()


def lab_results_list(
    *,
    user: User,
    patient_id: int | None = None,
    test_code: str | None = None,
    flag: str | None = None,
    include_superseded: bool = True,
) -> QuerySet[LabResult]:
    queryset = lab_results_visible_to(user).select_related(
        "patient", "ordering_clinician", "superseded_by"
    )
    if patient_id is not None:
        queryset = queryset.filter(patient_id=patient_id)
    if test_code is not None:
        queryset = queryset.filter(test_code=test_code)
    if flag is not None:
        queryset = queryset.filter(flag=flag)
    if not include_superseded:
        queryset = queryset.filter(superseded_by__isnull=True)
    return queryset.order_by("-reported_at", "-id")


def lab_result_get_for(*, user: User, lab_result_id: int) -> LabResult:
    result = (
        lab_results_visible_to(user)
        .select_related("patient", "ordering_clinician", "superseded_by")
        .filter(pk=lab_result_id)
        .first()
    )
    if result is None:
        raise LabResultNotFound()
    return result
