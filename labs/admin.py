from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import User
from core.admin_tools import ReadOnlyAuditedAdmin
from core.errors import DomainError
from core.read_audit import Read, ReadSurface, audit_read
from labs.flags import Ranges
from labs.models import LabResult
from labs.services import lab_result_correct_by_staff


@admin.register(LabResult)
class LabResultAdmin(ReadOnlyAuditedAdmin):
    """Read-only: results are recorded and corrected (superseded) by their ordering
    clinician; staff with the "add lab result" permission correct one through the
    "Correct" page (a new result superseding it, audited with the staff member's name)."""

    read_audit_action = "lab_result.read"
    read_audit_patient = "patient_id"
    list_display = ["id", "patient", "test_code", "test_name", "flag", "status", "reported_at"]
    list_filter = ["flag", "status"]
    list_select_related = ["patient"]
    search_fields = ["test_code", "test_name", "patient__email"]
    readonly_fields = [*(field.name for field in LabResult._meta.fields), "correction"]

    def get_urls(self) -> list[URLPattern]:
        correct = path(
            "<path:object_id>/correct/",
            self.admin_site.admin_view(
                lambda request, object_id: lab_result_correct_view(self, request, object_id)
            ),
            name="labs_labresult_correct",
        )
        return [correct, *super().get_urls()]

    @admin.display(description="Correction")
    def correction(self, obj: LabResult) -> str:
        if obj.pk is None or getattr(obj, "superseded_by", None) is not None:
            return "-"
        url = reverse("admin:labs_labresult_correct", args=[obj.pk])
        return format_html('<a href="{}">Correct this result</a>', url)


class LabResultCorrectionForm(forms.Form):
    """The values of a correction; everything else is the superseded result's."""

    value = forms.CharField(max_length=200, help_text='A number, or a text such as "positive".')
    unit = forms.CharField(max_length=32, required=False)
    reference_low = forms.DecimalField(max_digits=14, decimal_places=4, required=False)
    reference_high = forms.DecimalField(max_digits=14, decimal_places=4, required=False)
    critical_low = forms.DecimalField(max_digits=14, decimal_places=4, required=False)
    critical_high = forms.DecimalField(max_digits=14, decimal_places=4, required=False)
    reported_at = forms.DateTimeField(help_text="When the laboratory reported the correction.")

    def clean_value(self) -> Decimal | str:
        text = self.cleaned_data["value"].strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        exponent = number.as_tuple().exponent
        if not isinstance(exponent, int) or exponent < -4 or abs(number) >= 10**10:
            raise forms.ValidationError("Use at most 10 digits before the point and 4 after.")
        return number


def lab_result_correct_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    """Staff correct a result through ``lab_result_correct_by_staff`` (audited there)."""
    if not request.user.has_perm("labs.add_labresult"):
        raise PermissionDenied
    original = LabResult.objects.filter(pk=object_id).first() if object_id.isdigit() else None
    if original is None:
        raise Http404
    form = LabResultCorrectionForm(
        request.POST or None,
        initial={
            "unit": original.unit,
            "reference_low": original.reference_low,
            "reference_high": original.reference_high,
            "critical_low": original.critical_low,
            "critical_high": original.critical_high,
            "reported_at": timezone.now(),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        value = data["value"]
        try:
            correction = lab_result_correct_by_staff(
                actor=cast(User, request.user),
                supersedes_id=original.pk,
                value_numeric=value if isinstance(value, Decimal) else None,
                value_text=value if isinstance(value, str) else "",
                unit=data["unit"],
                ranges=Ranges(
                    reference_low=data["reference_low"],
                    reference_high=data["reference_high"],
                    critical_low=data["critical_low"],
                    critical_high=data["critical_high"],
                ),
                reported_at=data["reported_at"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            model_admin.message_user(
                request, f"Recorded correction {correction.pk} of result {original.pk}."
            )
            return redirect("admin:labs_labresult_change", correction.pk)
    # The page shows the result it corrects: a staff read of a clinical record.
    audit_read(
        actor=request.user,
        surface=ReadSurface.ADMIN_CHANGE_FORM,
        reads=[Read("lab_result.read", original, original.patient_id)],
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": original,
        "form": form,
        "title": f"Correct lab result {original.pk}",
    }
    return TemplateResponse(request, "admin/labs/labresult/correct.html", context)
