"""Booking policy: how soon and how far ahead a slot may be booked. Settings give the
defaults; a clinician's profile may override both. (How late a patient may still change
an appointment is a lifecycle rule: ``scheduling.lifecycle``.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from accounts.models import ClinicianProfile
from scheduling.errors import BeyondHorizon, NoticeTooShort, SlotUnavailable
from scheduling.metrics import BOOKING_CONFLICTS
from scheduling.models import Slot


@dataclass(frozen=True)
class BookingPolicy:
    min_notice: timedelta
    max_horizon: timedelta


def booking_policy_for(clinician_id: int) -> BookingPolicy:
    """The clinician's policy, read from their profile (one query)."""
    profile = (
        ClinicianProfile.objects.filter(user_id=clinician_id)
        .only("min_notice_minutes", "max_horizon_days")
        .first()
    )
    if profile is None:
        return booking_policy_from_overrides(None, None)
    return booking_policy_from_overrides(profile.min_notice_minutes, profile.max_horizon_days)


def booking_policy_from_overrides(minutes: int | None, days: int | None) -> BookingPolicy:
    """The policy from a clinician's overrides already in hand (``minutes`` of notice,
    horizon ``days``): settings where they are None. No query: booking reads the
    overrides with the slot lock."""
    return BookingPolicy(
        min_notice=timedelta(
            minutes=settings.SCHEDULING_MIN_NOTICE_MINUTES if minutes is None else minutes
        ),
        max_horizon=timedelta(days=settings.SCHEDULING_MAX_HORIZON_DAYS if days is None else days),
    )


def check_bookable(slot: Slot, *, now: datetime, policy: BookingPolicy | None = None) -> None:
    if slot.status != Slot.Status.OPEN:
        BOOKING_CONFLICTS.inc()  # counted even though the transaction rolls back
        raise SlotUnavailable(details={"slot": slot.pk, "slot_status": slot.status})
    if policy is None:
        policy = booking_policy_for(slot.clinician_id)
    if slot.start < now + policy.min_notice:
        raise NoticeTooShort(
            details={
                "slot": slot.pk,
                "min_notice_minutes": int(policy.min_notice.total_seconds() // 60),
            }
        )
    if slot.start > now + policy.max_horizon:
        raise BeyondHorizon(details={"slot": slot.pk, "max_horizon_days": policy.max_horizon.days})
