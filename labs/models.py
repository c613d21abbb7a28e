"""Lab results. The flag is computed (``labs.flags``); a correction supersedes, never overwrites."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from consultations.models import Consultation


class LabResult(models.Model):
    class Status(models.TextChoices):
        PRELIMINARY = "preliminary", "Preliminary"
        FINAL = "final", "Final"
        CORRECTED = "corrected", "Corrected"

    class Flag(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lab_results"
    )
    ordering_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lab_results_ordered"
    )
    consultation = models.ForeignKey(
        Consultation, null=True, blank=True, on_delete=models.PROTECT, related_name="lab_results"
    )
    test_code = models.CharField(max_length=32, help_text="LOINC code where known.")
    test_name = models.CharField(max_length=200)
    value_numeric = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    value_text = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=32, blank=True)
    reference_low = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    reference_high = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    critical_low = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    critical_high = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    # Null, not "": not flaggable (a text value, or no range at all), JSON null in the API.
    flag = models.CharField(  # noqa: DJ001
        max_length=16, choices=Flag.choices, null=True, blank=True
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    collected_at = models.DateTimeField()
    reported_at = models.DateTimeField()
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        help_text="The result this correction replaces (which stays as it was).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reported_at", "-id"]
        indexes = [models.Index(fields=["patient", "test_code", "reported_at"])]
        constraints = [
            # Exactly one kind of value.
            models.CheckConstraint(
                condition=(Q(value_numeric__isnull=False) & Q(value_text=""))
                | (Q(value_numeric__isnull=True) & ~Q(value_text="")),
                name="lab_result_one_value",
            ),
            models.CheckConstraint(
                condition=Q(reference_low__isnull=True)
                | Q(reference_high__isnull=True)
                | Q(reference_low__lte=F("reference_high")),
                name="lab_result_reference_order",
            ),
            models.CheckConstraint(
                condition=Q(reported_at__gte=F("collected_at")),
                name="lab_result_reported_after_collected",
            ),
            models.CheckConstraint(
                condition=Q(supersedes__isnull=True) | Q(status="corrected"),
                name="lab_result_correction_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.test_name} for patient {self.patient_id} ({self.status})"

    @property
    def value(self) -> str:
        return self.value_text if self.value_numeric is None else str(self.value_numeric)
