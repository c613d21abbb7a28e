"""The waitlist: patients waiting for an earlier visit with one clinician, and the offers
of freed slots made to them.

An entry waits (``active``) until its patient books that clinician inside the entry's
window by any path (``fulfilled``) or leaves, or staff remove it (``removed``). When a slot
of the clinician becomes bookable, the earliest matching active entry (highest
``priority``, then joined first) gets an offer, and the slot (one seat of it) is held for
the entry's patient until the offer's ``expires_at`` (``scheduling.services.holds``). The
offer is accepted (an appointment), declined, or expires; then the slot passes to the
next matching entry that has not had an offer of it yet, or back to open. All state is in
these rows and the slot's hold columns: no timer in memory.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from scheduling.models import Appointment, Mode, Slot


class WaitlistEntry(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Waiting"
        FULFILLED = "fulfilled", "Booked"
        REMOVED = "removed", "Removed"

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="waitlist_entries"
    )
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="waitlisted_by"
    )
    # The window, in the clinician's slot dates as the patient's zone sees them; open ends
    # are unbounded.
    not_before = models.DateField(null=True, blank=True)
    not_after = models.DateField(null=True, blank=True)
    # ISO weekdays the patient can come, Monday 0 .. Sunday 6; empty = any day.
    weekdays = models.JSONField(default=list, blank=True)
    mode = models.CharField(
        max_length=16, choices=Mode.choices, blank=True, help_text="Empty: any mode."
    )
    priority = models.SmallIntegerField(
        default=0, help_text="Higher is offered first; equal priorities go by joining time."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who added the entry (the patient, or staff for them).",
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    appointment = models.ForeignKey(
        Appointment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The booking that fulfilled the entry.",
    )

    class Meta:
        verbose_name_plural = "waitlist entries"
        ordering = ["-priority", "created_at", "id"]
        indexes = [
            # The next matching entry: a clinician's active entries in offer order.
            models.Index(
                fields=["clinician", "-priority", "created_at", "id"],
                condition=Q(status="active"),
                name="waitlist_entry_queue",
            ),
            models.Index(fields=["patient", "status"], name="waitlist_entry_patient"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "clinician"],
                condition=Q(status="active"),
                name="waitlist_one_active_entry_per_clinician",
            ),
            models.CheckConstraint(
                condition=Q(not_before__isnull=True)
                | Q(not_after__isnull=True)
                | Q(not_after__gte=models.F("not_before")),
                name="waitlist_entry_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(status="active", ended_at__isnull=True)
                | (~Q(status="active") & Q(ended_at__isnull=False)),
                name="waitlist_entry_ended_when_not_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} waiting for {self.clinician} ({self.status})"


class WaitlistOffer(models.Model):
    class Status(models.TextChoices):
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="waitlist_offers")
    # Copied from the entry so the patient's offer list and the clinician's count read one
    # table.
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="waitlist_offers"
    )
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OFFERED)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(help_text="The end of the slot's hold for the patient.")
    responded_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-created_at"], name="waitlist_offer_patient"),
            # The sweep: live offers by deadline.
            models.Index(
                fields=["expires_at"], condition=Q(status="offered"), name="waitlist_offer_due"
            ),
            models.Index(
                fields=["clinician"], condition=Q(status="offered"), name="waitlist_offer_open"
            ),
        ]
        constraints = [
            # One live offer per slot (one seat is held at a time) and per entry.
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(status="offered"),
                name="waitlist_one_live_offer_per_slot",
            ),
            models.UniqueConstraint(
                fields=["entry"],
                condition=Q(status="offered"),
                name="waitlist_one_live_offer_per_entry",
            ),
            # A patient is offered a given slot at most once (a decline is not asked again).
            models.UniqueConstraint(fields=["entry", "slot"], name="waitlist_offer_once_per_slot"),
            models.CheckConstraint(
                condition=Q(status="accepted", appointment__isnull=False)
                | (~Q(status="accepted") & Q(appointment__isnull=True)),
                name="waitlist_offer_accepted_has_appointment",
            ),
        ]

    def __str__(self) -> str:
        return f"Offer of {self.slot} to {self.patient} ({self.status})"
