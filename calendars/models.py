"""Private calendar feeds: one per person, reached by a secret URL whose token is stored
only as its SHA-256 (a database reader cannot rebuild a feed URL)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CalendarFeed(models.Model):
    """``/calendar/<token>.ics`` of ``owner``. Rotating replaces the hash (the old URL then
    matches nothing); revoking deletes the row."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(
        max_length=64, unique=True, editable=False, help_text="SHA-256 of the URL's token, hex."
    )
    include_details = models.BooleanField(
        default=False,
        help_text="Patient names and reasons in a clinician's feed (the patient's own "
        "reason in a patient's). Off: a phone calendar is not a clinical record.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Calendar feed of {self.owner}"
