"""Availability and appointments. The database holds SPEC invariant 1 on PostgreSQL."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Func, Q, Value

from accounts.models import Hospital
from core.db import PostgresExclusionConstraint


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


def _half_open(start: str, end: str) -> TsTzRange:
    return TsTzRange(F(start), F(end), Value("[)"))


class Mode(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    VIDEO = "video", "Video"


class AvailabilityRule(models.Model):
    """A weekly recurrence written in the clinician's own time zone."""

    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability_rules"
    )
    weekday = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(6)], help_text="0 = Monday … 6 = Sunday."
    )
    start_time = models.TimeField(help_text="Local wall-clock time in the rule's time zone.")
    end_time = models.TimeField()
    time_zone = models.CharField(max_length=64)
    slot_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(240)]
    )
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.IN_PERSON)
    hospital = models.ForeignKey(Hospital, null=True, blank=True, on_delete=models.SET_NULL)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["clinician_id", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="rule_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="rule_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Weekday {self.weekday} {self.start_time}-{self.end_time} ({self.time_zone})"


class Slot(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        BOOKED = "booked", "Booked"
        BLOCKED = "blocked", "Blocked"
        WITHDRAWN = "withdrawn", "Withdrawn"

    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slots"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.IN_PERSON)
    hospital = models.ForeignKey(Hospital, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    rule = models.ForeignKey(
        AvailabilityRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="slots"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["clinician", "start"]),
            models.Index(fields=["status", "start"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_end_after_start"),
            PostgresExclusionConstraint(
                name="slot_no_overlap_per_clinician",
                expressions=[
                    ("clinician", RangeOperators.EQUAL),
                    (_half_open("start", "end"), RangeOperators.OVERLAPS),
                ],
                condition=~Q(status="withdrawn"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinician} {self.start:%Y-%m-%d %H:%M}Z ({self.status})"


class Appointment(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CONFIRMED = "confirmed", "Confirmed"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    ACTIVE_STATUSES = (Status.SCHEDULED, Status.CONFIRMED)

    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    previous_slot = models.ForeignKey(
        Slot,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The slot this appointment left when it was last rescheduled.",
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="clinician_appointments"
    )
    # Copied from the slot so PostgreSQL can refuse a patient's overlapping appointments.
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    reason = models.TextField(blank=True, max_length=2000)
    notes = models.TextField(blank=True, max_length=5000)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancellation_reason = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["patient", "start"]),
            models.Index(fields=["clinician", "start"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="appointment_end_after_start"
            ),
            models.UniqueConstraint(
                fields=["slot"],
                condition=~Q(status="cancelled"),
                name="uniq_active_appointment_per_slot",
            ),
            PostgresExclusionConstraint(
                name="no_overlapping_active_appointments_per_patient",
                expressions=[
                    ("patient", RangeOperators.EQUAL),
                    (_half_open("start", "end"), RangeOperators.OVERLAPS),
                ],
                condition=Q(status__in=["scheduled", "confirmed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Appointment {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES
