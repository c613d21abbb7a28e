"""Calendar feed reads: a person's feed, the feed a token opens, and what a feed shows."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q, QuerySet

from accounts.models import CLINICIAN_ROLES, ClinicianProfile, Role, User
from calendars.models import CalendarFeed
from calendars.services import token_hash
from scheduling.models import Appointment
from scheduling.selectors import appointments_visible_to
from scheduling.services.policy import booking_policy_for

# A feed shows appointments from this long ago up to the booking horizon; a cancelled
# one stays (STATUS:CANCELLED, so subscribed calendars remove it) this long after its
# cancellation.
FEED_PAST = timedelta(days=30)
CANCELLED_KEPT = timedelta(days=30)


def calendar_feed_of(user: User) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(owner=user).first()


def calendar_feed_by_token(token: str) -> CalendarFeed | None:
    """The live feed ``token`` opens, or None: unknown, rotated, revoked, or its owner
    deactivated or no longer a patient or clinician. Found by the token's SHA-256 (the
    index compares hashes, never the secret itself), then compared in constant time."""
    digest = token_hash(token)
    feed = CalendarFeed.objects.select_related("owner").filter(token_hash=digest).first()
    if feed is None or not hmac.compare_digest(feed.token_hash, digest):
        return None
    owner = feed.owner
    if not owner.is_active or owner.role not in (Role.PATIENT, *CLINICIAN_ROLES):
        return None
    return feed


def feed_horizon(owner: User) -> timedelta:
    """How far ahead a feed reaches: a clinician's own booking horizon; for a patient the
    longest any clinician allows (their appointments may be with any)."""
    if owner.role in CLINICIAN_ROLES:
        return booking_policy_for(owner.pk).max_horizon
    longest = ClinicianProfile.objects.aggregate(days=Max("max_horizon_days"))["days"]
    return timedelta(days=max(settings.SCHEDULING_MAX_HORIZON_DAYS, longest or 0))


def feed_appointments(owner: User, *, now: datetime) -> QuerySet[Appointment]:
    """The owner's own appointments (as clinician or as patient) in the feed's window:
    from ``FEED_PAST`` ago to the horizon, a cancelled one only until ``CANCELLED_KEPT``
    after its cancellation."""
    if owner.role not in (*CLINICIAN_ROLES, Role.PATIENT):
        # Staff own no appointments; their access rule (every appointment) is not a feed.
        return Appointment.objects.none()
    kept = ~Q(status=Appointment.Status.CANCELLED) | Q(cancelled_at__gte=now - CANCELLED_KEPT)
    return (
        appointments_visible_to(owner)  # scheduling's one access rule
        .filter(kept, start__gte=now - FEED_PAST, start__lte=now + feed_horizon(owner))
        .select_related("slot__hospital", "clinician", "patient")
        .order_by("start", "pk")
    )
