"""Back-office views of clinical records: read-only, and every record shown is audited.

Clinical writes belong to clinicians through the API's services (staff never edit notes
or prescriptions), so these admins allow no add, change or delete.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from consultations.models import Consultation, ConsultationAddendum, Prescription
from core.admin_tools import ReadOnlyAuditedAdmin


class AddendumInline(admin.TabularInline):
    model = ConsultationAddendum
    extra = 0
    can_delete = False
    readonly_fields = ["author", "text", "shared_with_patient", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Consultation)
class ConsultationAdmin(ReadOnlyAuditedAdmin):
    read_audit_action = "consultation.read"
    read_audit_patient = "appointment__patient_id"
    list_display = ["id", "appointment", "patient", "clinician", "status", "started_at"]
    list_select_related = ["appointment__patient", "appointment__clinician"]
    search_fields = ["appointment__patient__email", "appointment__clinician__email"]
    readonly_fields = [
        "appointment",
        "status",
        "notes",
        "notes_shared_with_patient",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    inlines = [AddendumInline]

    @admin.display(description="Patient")
    def patient(self, obj: Consultation) -> str:
        return str(obj.appointment.patient)

    @admin.display(description="Clinician")
    def clinician(self, obj: Consultation) -> str:
        return str(obj.appointment.clinician)


@admin.register(Prescription)
class PrescriptionAdmin(ReadOnlyAuditedAdmin):
    read_audit_action = "prescription.read"
    read_audit_patient = "consultation__appointment__patient_id"
    list_display = ["id", "medication", "dose", "prescriber", "status", "issued_at"]
    list_filter = ["status", "route"]
    list_select_related = ["prescriber", "consultation__appointment"]
    search_fields = ["medication", "prescriber__email"]
    readonly_fields = [
        "consultation",
        "prescriber",
        *Prescription.WRITTEN_FIELDS,
        "status",
        "issued_at",
        "cancelled_at",
        "cancelled_by",
        "cancellation_reason",
    ]
