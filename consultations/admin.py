"""Back-office views of clinical records: read-only, and every opened record is audited.

Clinical writes belong to clinicians through the API's services (staff never edit notes
or prescriptions), so these admins allow no add, change or delete.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse

from consultations.models import Consultation, ConsultationAddendum, Prescription
from core.audit import audit_record


class ReadOnlyAuditedAdmin(admin.ModelAdmin):
    """No writes; opening one record writes a ``<model>.read`` audit row (staff read)."""

    audit_action = ""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        if obj is not None:
            self.audit_read(request, obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def audit_read(self, request: HttpRequest, obj: models.Model) -> None:
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action=self.audit_action,
                obj=obj,
                metadata={"via": "admin"},
            )


class AddendumInline(admin.TabularInline):
    model = ConsultationAddendum
    extra = 0
    can_delete = False
    readonly_fields = ["author", "text", "shared_with_patient", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Consultation)
class ConsultationAdmin(ReadOnlyAuditedAdmin):
    audit_action = "consultation.read"
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
    audit_action = "prescription.read"
    list_display = ["id", "medication", "dose", "prescriber", "status", "issued_at"]
    list_filter = ["status", "route"]
    list_select_related = ["prescriber"]
    search_fields = ["medication", "prescriber__email"]
    readonly_fields = [
        "consultation",
        "prescriber",
        "medication",
        "dose",
        "route",
        "frequency",
        "duration",
        "quantity",
        "refills",
        "instructions",
        "status",
        "issued_at",
        "cancelled_at",
        "cancelled_by",
        "cancellation_reason",
    ]
