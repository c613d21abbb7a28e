"""Every row lock of labs is taken here."""

from __future__ import annotations

from django.db.models import QuerySet

from labs.models import LabResult


def lab_result_lock(result_id: int, *, queryset: QuerySet[LabResult]) -> LabResult | None:
    """Lock one lab result, taken from ``queryset`` (the caller's visible set)."""
    return queryset.select_for_update().filter(pk=result_id).first()
