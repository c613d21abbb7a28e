"""Admin: upload a hospital CSV (the same job as the API) and watch its progress."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.permissions import is_staff_role
from bulk_import.import_services import IMPORT_JOB_KIND, hospital_import_start
from bulk_import.models import DirectorySyncState, HospitalImportJob
from core.errors import DomainError


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Hospital CSV",
        help_text="UTF-8 with a header row: code, name, address, city, region, "
        "postal_code, country, phone (code and name required; any order).",
    )


@admin.register(HospitalImportJob)
class HospitalImportAdmin(admin.ModelAdmin):
    list_display = ("created_at", "status", "progress", "summary", "requested_by")
    list_filter = ("status",)
    fields = (
        "status",
        "progress",
        "summary",
        "rejects_download",
        "errors",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[HospitalImportJob]:
        return super().get_queryset(request).filter(kind=IMPORT_JOB_KIND)

    # SPEC: staff run bulk imports, whatever model permissions their group holds.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_staff_role(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff_role(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_staff_role(request.user) or super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a job is a record of work, changed only by the work itself

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Result")
    def summary(self, job: HospitalImportJob) -> str:
        result = job.result or {}
        if "message" in result:
            return str(result["message"])
        checkpoint = result.get("checkpoint")
        return f"So far: {checkpoint}" if checkpoint else "—"

    @admin.display(description="Rejected rows (CSV)")
    def rejects_download(self, job: HospitalImportJob) -> str:
        if not job.file:
            return "—"
        return format_html('<a href="{}">download</a>', f"/api/v1/jobs/{job.id}/download/")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The upload page: it starts the same job as ``POST /api/v1/hospitals/bulk/``."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = hospital_import_start(user=request.user, upload=form.cleaned_data["file"])
            except DomainError as exc:
                form.add_error("file", exc.message)
            else:
                messages.success(request, "Import started; this page follows its progress.")
                url = reverse("admin:bulk_import_hospitalimportjob_change", args=[job.pk])
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import hospitals from CSV",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bulk_import/upload.html", context)


@admin.register(DirectorySyncState)
class DirectorySyncStateAdmin(admin.ModelAdmin):
    list_display = ("hospital", "synced_version", "synced_at", "rejected_reason")
    search_fields = ("hospital__code", "hospital__name")
    readonly_fields = ("hospital", "synced_version", "synced_at", "rejected_reason")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
