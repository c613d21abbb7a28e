"""Emails sent to people, and signed webhooks sent to other systems, in reaction to events."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Notification(models.Model):
    """One message to one person about one event; never sent twice for the same triple.

    Every email Carebook sends is one of these rows, written in the transaction of the
    change it announces and sent after commit by ``notifications.services``
    (``notification_deliver``), which records failures and retries them.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"

    class Kind(models.TextChoices):
        APPOINTMENT_SCHEDULED = "appointment_scheduled", "Appointment scheduled"
        APPOINTMENT_RESCHEDULED = "appointment_rescheduled", "Appointment rescheduled"
        APPOINTMENT_CANCELLED = "appointment_cancelled", "Appointment cancelled"
        APPOINTMENT_REMINDER = "appointment_reminder", "Appointment reminder (24 h)"
        LAB_RESULT_CRITICAL = "lab_result_critical", "Critical lab result"
        REPORT_READY = "report_ready", "Report ready"
        SERIES_SCHEDULED = "series_scheduled", "Appointment series booked"
        SERIES_CANCELLED = "series_cancelled", "Appointment series cancelled"
        WAITLIST_OFFER = "waitlist_offer", "Waitlist offer"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # Not sent, on purpose: the recipient turned email off (their preferences).
        SKIPPED = "skipped", "Skipped (email off)"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    # The outbox event this answers; reminders use a uuid5 of (appointment, start).
    event_id = models.UUIDField()
    kind = models.CharField(max_length=32, choices=Kind.choices)
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    subject = models.CharField(max_length=200, blank=True)
    # Written with the row, so a retry sends what the event announced. Never clinical
    # values: this table is readable in the admin and email may travel unencrypted.
    body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # While "sending": the worker's claim. A worker that died mid-send leaves it to lapse,
    # then the sweep sends again (twice rather than never, for care messages).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Held until then (the recipient's quiet hours); the sender and the sweep wait for it.
    not_before = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # The admin's newest-first change list and its date hierarchy (issue #19).
            models.Index(fields=["created_at", "id"], name="notification_created_id_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "recipient", "kind"], name="uniq_notification_per_event"
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="notification_sent_has_sent_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient} ({self.status})"


class NotificationPreference(models.Model):
    """How one person wants to be reached: email on or off, and quiet hours.

    Quiet hours are wall-clock times in the person's own zone (``User.time_zone``); a
    window may cross midnight (21:00-08:00). No row means the defaults: email on, no
    quiet hours. Honoured by the messages that can wait or be dropped (reminders, waitlist
    offers); see ``notifications.services.HONOURS_PREFERENCES``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preference",
    )
    email = models.BooleanField(default=True)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Both ends or none, and never an empty (or whole-day) window.
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | (
                    Q(quiet_start__isnull=False, quiet_end__isnull=False)
                    & ~Q(quiet_start=models.F("quiet_end"))
                ),
                name="notification_pref_quiet_hours_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"Notification preferences of {self.user}"

    @property
    def has_quiet_hours(self) -> bool:
        return self.quiet_start is not None and self.quiet_end is not None


class WebhookEndpoint(models.Model):
    """A receiver registered by staff: where to POST, how to sign, how gently to call."""

    # Names this endpoint's shared breaker and rate limit; unlike the id it never repeats
    # (a restored database, parallel test databases sharing one Redis).
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128, help_text="Signs every delivery (v1 signature).")
    previous_secret = models.CharField(
        max_length=128,
        blank=True,
        help_text="During a rotation, deliveries carry a second v1 signature with this "
        "secret so receivers can switch at their own pace. Clear it when they have.",
    )
    events = models.JSONField(
        default=list,
        help_text='Event names to send, e.g. ["appointment.scheduled"]; ["*"] sends all.',
    )
    is_active = models.BooleanField(default=True)
    rate_per_second = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.01), MaxValueValidator(1000)]
    )
    breaker_threshold = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Consecutive failed attempts that open the circuit.",
    )
    breaker_cooldown_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(86_400)],
        help_text="How long an open circuit refuses attempts before one probe is let through.",
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(25)]
    )
    timeout_seconds = models.FloatField(
        default=10.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_per_second__gt=0), name="webhook_rate_positive"
            ),
            models.CheckConstraint(
                condition=Q(breaker_threshold__gte=1), name="webhook_threshold_min"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class WebhookDelivery(models.Model):
    """One event for one endpoint, tried until it succeeds or runs out of attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(help_text="The exact JSON document POSTed (signed at each attempt).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redeliveries"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            # An event reaches an endpoint once; only an explicit redelivery adds a row.
            models.UniqueConstraint(
                fields=["endpoint", "event_id"],
                condition=Q(redelivery_of__isnull=True),
                name="uniq_webhook_delivery_per_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint} ({self.status})"


class WebhookAttempt(models.Model):
    """Every HTTP try of a delivery, kept for the back office."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="uniq_webhook_attempt_number"
            )
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery {self.delivery_id}"
