from __future__ import annotations

from django.contrib import admin

from consultations.admin import ReadOnlyAuditedAdmin
from labs.models import LabResult


@admin.register(LabResult)
class LabResultAdmin(ReadOnlyAuditedAdmin):
    """Read-only: results are recorded and corrected (superseded) by clinicians."""

    read_audit_action = "lab_result.read"
    read_audit_patient = "patient_id"
    list_display = ["id", "patient", "test_code", "test_name", "flag", "status", "reported_at"]
    list_filter = ["flag", "status"]
    list_select_related = ["patient"]
    search_fields = ["test_code", "test_name", "patient__email"]
    readonly_fields = [field.name for field in LabResult._meta.fields]

    def read_audit_patient_id(self, obj: LabResult) -> int:
        return obj.patient_id
