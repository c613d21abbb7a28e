"""Scheduling's metrics: bookings, refused bookings and cancellations (core.metrics
registers and serves them; bookings and cancellations are counted after commit)."""

from __future__ import annotations

from prometheus_client import Counter

BOOKINGS = Counter("bookings", "Appointments booked (counted after commit).")
BOOKING_CONFLICTS = Counter(
    "booking_conflicts", "Booking attempts refused because the slot or patient was taken (409)."
)
CANCELLATIONS = Counter("cancellations", "Appointments cancelled (counted after commit).")
