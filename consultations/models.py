"""Consultations, their addenda and prescriptions.

A consultation's status is not stored here as its own column: see ``lifecycle.py``
(phase on the consultation, outcome on the appointment, one derived status).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from consultations.lifecycle import consultation_status
from scheduling.models import Appointment


class Consultation(models.Model):
    """The care record of one appointment, created when the appointment is booked."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, related_name="consultation"
    )
    notes = models.TextField(blank=True, max_length=20000)
    notes_shared_with_patient = models.BooleanField(
        default=False, help_text="The patient may read the notes."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(started_at__isnull=False),
                name="consultation_completed_after_started",
            ),
        ]

    def __str__(self) -> str:
        return f"Consultation {self.pk} (appointment {self.appointment_id})"

    @property
    def status(self) -> str:
        return consultation_status(self)


class ConsultationAddendum(models.Model):
    """A correction or addition to a completed consultation: a new row, never an edit."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=20000)
    shared_with_patient = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Addendum {self.pk} to consultation {self.consultation_id}"


class Prescription(models.Model):
    """Issued once and never edited; a mistake is cancelled (who, why) and re-issued."""

    # What the prescriber writes: the form, the API's input and output, the admin.
    WRITTEN_FIELDS = (
        "medication",
        "dose",
        "route",
        "frequency",
        "duration",
        "quantity",
        "refills",
        "instructions",
    )

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"

    class Route(models.TextChoices):
        ORAL = "oral", "Oral"
        SUBLINGUAL = "sublingual", "Sublingual"
        TOPICAL = "topical", "Topical"
        INHALED = "inhaled", "Inhaled"
        INTRAVENOUS = "intravenous", "Intravenous"
        INTRAMUSCULAR = "intramuscular", "Intramuscular"
        SUBCUTANEOUS = "subcutaneous", "Subcutaneous"
        RECTAL = "rectal", "Rectal"
        OPHTHALMIC = "ophthalmic", "Ophthalmic"
        OTIC = "otic", "Otic"
        NASAL = "nasal", "Nasal"
        TRANSDERMAL = "transdermal", "Transdermal"
        OTHER = "other", "Other"

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="prescriptions"
    )
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="prescriptions_written"
    )
    medication = models.CharField(max_length=200)
    dose = models.CharField(max_length=100, help_text='e.g. "500 mg"')
    route = models.CharField(max_length=16, choices=Route.choices)
    frequency = models.CharField(max_length=100, help_text='e.g. "twice daily"')
    duration = models.CharField(max_length=100, help_text='e.g. "7 days"')
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    refills = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(12)])
    instructions = models.TextField(blank=True, max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    issued_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancellation_reason = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="prescription_quantity_min"),
            models.CheckConstraint(condition=Q(refills__lte=12), name="prescription_refills_max"),
            # A cancellation always says who and why; an active one carries none of it.
            models.CheckConstraint(
                condition=(
                    Q(
                        status="active",
                        cancelled_at__isnull=True,
                        cancelled_by__isnull=True,
                        cancellation_reason="",
                    )
                    | (
                        Q(
                            status="cancelled",
                            cancelled_at__isnull=False,
                            cancelled_by__isnull=False,
                        )
                        & ~Q(cancellation_reason="")
                    )
                ),
                name="prescription_cancellation_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.medication} {self.dose} ({self.status})"
