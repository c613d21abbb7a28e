"""Availability and appointments. The database holds SPEC invariant 1 on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils import timezone

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


# The most seats a slot (a group session) may have.
MAX_CAPACITY = 50


def _capacity_field() -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(
        default=1,
        db_default=1,  # a raw INSERT that names no capacity: one seat
        blank=True,  # a form may leave it out: one seat
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAPACITY)],
        help_text=f"Seats: 1 for a one-to-one visit, up to {MAX_CAPACITY} for a group.",
    )


def _capacity_range(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(capacity__gte=1, capacity__lte=MAX_CAPACITY), name=name
    )


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
    capacity = _capacity_field()  # of each slot the rule publishes
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
            _capacity_range("rule_capacity_range"),
        ]

    def __str__(self) -> str:
        return f"Weekday {self.weekday} {self.start_time}-{self.end_time} ({self.time_zone})"


class Slot(models.Model):
    """A bookable time of one clinician. ``capacity`` seats (1 = a one-to-one visit, more
    = a group session); ``seats_taken`` counts the non-cancelled appointments holding a
    seat, kept under the slot's row lock by the booking services so a list reads
    ``seats_left`` without a join. The hard limit is the appointments' numbered seats
    (see ``Appointment.seat``)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        BOOKED = "booked", "Booked"
        BLOCKED = "blocked", "Blocked"
        WITHDRAWN = "withdrawn", "Withdrawn"
        # Its last free seat is held for one patient (a waitlist offer) until
        # ``held_until`` (always so on a one-seat slot with a hold).
        HELD = "held", "Held"

    # No index of its own: (clinician, start) below starts with it (migration 0007).
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slots", db_index=False
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.IN_PERSON)
    hospital = models.ForeignKey(Hospital, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    capacity = _capacity_field()
    seats_taken = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        editable=False,  # the booking services count it under the slot lock
        help_text="Seats held by appointments that are not cancelled.",
    )
    # A hold (scheduling.services.holds): one seat kept for ``held_for`` until
    # ``held_until``. Past that time the hold binds nobody, even before a sweep clears it.
    held_for = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The patient one seat is held for (a waitlist offer).",
        db_index=False,  # indexed where set only (Meta.indexes; migration 0008)
    )
    held_until = models.DateTimeField(null=True, blank=True, editable=False)
    rule = models.ForeignKey(
        AvailabilityRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="slots"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["clinician", "start"]),
            models.Index(fields=["status", "start"]),
            # The admin's newest-first change list and its date hierarchy (issue #19).
            models.Index(fields=["start", "id"], name="slot_start_id_idx"),
            # Where set only: a slot is almost never held, and each booking's UPDATE of its
            # slot (never HOT) would write a NULL entry here (issue #18).
            models.Index(
                fields=["held_for"], condition=Q(held_for__isnull=False), name="slot_held_for_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_end_after_start"),
            _capacity_range("slot_capacity_range"),
            models.CheckConstraint(
                condition=Q(seats_taken__gte=0, seats_taken__lte=F("capacity")),
                name="slot_seats_taken_within_capacity",
            ),
            models.CheckConstraint(
                condition=Q(held_for__isnull=True, held_until__isnull=True)
                | Q(held_for__isnull=False, held_until__isnull=False),
                name="slot_hold_both_or_neither",
            ),
            models.CheckConstraint(
                condition=~Q(status="held") | Q(held_until__isnull=False),
                name="slot_held_has_hold",
            ),
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

    def hold_live(self, now: datetime | None = None) -> bool:
        """A hold binds until ``held_until``; an expired one counts as released."""
        return self.held_until is not None and self.held_until > (now or timezone.now())

    @property
    def seats_left(self) -> int:
        """Free seats; a seat under a live hold counts as taken."""
        return seats_left_of(self.capacity, self.seats_taken, self.held_until)


def seats_left_of(
    capacity: int, seats_taken: int, held_until: datetime | None, now: datetime | None = None
) -> int:
    """Free seats of a slot from its columns; a seat under a live hold counts as taken."""
    held = 1 if held_until is not None and held_until > (now or timezone.now()) else 0
    return max(capacity - seats_taken - held, 0)


class AppointmentSeries(models.Model):
    """A course of appointments with one clinician at one local wall-clock time every
    ``interval_weeks`` weeks. Each occurrence is an ordinary appointment pointing here
    (``Appointment.series``): it is cancelled, rescheduled and completed on its own."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CANCELLED = "cancelled", "Cancelled"

    class OnConflict(models.TextChoices):
        FAIL = "fail", "Book nothing"
        SKIP = "skip", "Skip the unbookable occurrences"

    # No index of their own: (patient, created_at) and (clinician, created_at) below start
    # with them (migration 0007).
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="appointment_series",
        db_index=False,
    )
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="clinician_series",
        db_index=False,
    )
    interval_weeks = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    count = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(2), MaxValueValidator(26)],
        help_text="Occurrences asked for (those skipped included).",
    )
    first_start = models.DateTimeField()
    time_zone = models.CharField(
        max_length=64, help_text="The zone whose wall-clock time every occurrence keeps."
    )
    reason = models.TextField(blank=True, max_length=2000)
    on_conflict = models.CharField(
        max_length=8, choices=OnConflict.choices, default=OnConflict.FAIL
    )
    # [{index, start, code}]: the occurrences that could not be booked (on_conflict=skip).
    skipped = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "appointment series"
        indexes = [
            models.Index(fields=["patient", "created_at"]),
            models.Index(fields=["clinician", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_weeks__gte=1, interval_weeks__lte=4),
                name="series_interval_range",
            ),
            models.CheckConstraint(
                condition=Q(count__gte=2, count__lte=26), name="series_count_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "cancelled"]), name="series_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(on_conflict__in=["fail", "skip"]), name="series_on_conflict_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Series {self.pk} ({self.count} x every {self.interval_weeks} wk, {self.status})"


class Appointment(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CONFIRMED = "confirmed", "Confirmed"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    ACTIVE_STATUSES = (Status.SCHEDULED, Status.CONFIRMED)

    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    series = models.ForeignKey(
        AppointmentSeries,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments",
        help_text="The series this appointment is an occurrence of, if any.",
        db_index=False,  # indexed where set only (Meta.indexes; migration 0008)
    )
    previous_slot = models.ForeignKey(
        Slot,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The slot this appointment left when it was last rescheduled.",
        db_index=False,  # indexed where set only (Meta.indexes; migration 0008)
    )
    # No index of its own: (patient, start) below starts with it (migration 0007).
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="appointments",
        db_index=False,
    )
    # Which of the slot's seats this appointment holds (1..slot.capacity) while it is not
    # cancelled: unique per slot, and a PostgreSQL trigger refuses a seat beyond the
    # slot's capacity (migration 0002), so no writer can overfill a slot.
    seat = models.PositiveSmallIntegerField(default=1, db_default=1)
    # No index of its own: (clinician, start) below starts with it (migration 0007).
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="clinician_appointments",
        db_index=False,
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
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # indexed where set only (Meta.indexes; migration 0008)
    )
    cancellation_reason = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The iCalendar SEQUENCE of this appointment (calendar feeds, the .ics of its emails):
    # the database raises it by one on every UPDATE that changes the row (trigger of
    # migration 0005), whoever writes, so a phone calendar never ignores a change.
    sequence = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["patient", "start"]),
            models.Index(fields=["clinician", "start"]),
            # The admin's newest-first change list and its date hierarchy (issue #19).
            models.Index(fields=["start", "id"], name="appointment_start_id_idx"),
            # Where set only: a new booking leaves all three empty, and an index of NULLs
            # cost each booking's INSERT three entries (issue #18). A lookup by one of
            # them (a foreign-key check, ``series=…``) implies it is set.
            models.Index(
                fields=["series"], condition=Q(series__isnull=False), name="appointment_series_idx"
            ),
            models.Index(
                fields=["previous_slot"],
                condition=Q(previous_slot__isnull=False),
                name="appointment_prev_slot_idx",
            ),
            models.Index(
                fields=["cancelled_by"],
                condition=Q(cancelled_by__isnull=False),
                name="appointment_cancelled_by_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="appointment_end_after_start"
            ),
            models.CheckConstraint(condition=Q(seat__gte=1), name="appointment_seat_positive"),
            # One holder per seat: on a one-seat slot, one live appointment per slot.
            models.UniqueConstraint(
                fields=["slot", "seat"],
                condition=~Q(status="cancelled"),
                name="uniq_active_appointment_per_slot_seat",
            ),
            # One patient holds at most one seat of a slot.
            models.UniqueConstraint(
                fields=["slot", "patient"],
                condition=~Q(status="cancelled"),
                name="uniq_active_patient_per_slot",
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
