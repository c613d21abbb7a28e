"""Telling a patient about an offer: one email through the one mail path.

Run after the offer commits, by the outbox's subscriber of ``waitlist.offered`` (at least
once): ``notification_queue`` keeps one row per (event, patient, kind), so a redelivery
sends nothing twice. The kind honours the patient's preferences (email off: recorded as
skipped; the offer stands and is listed under ``GET waitlist/offers/``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from notifications.models import Notification
from notifications.services import EventLike, format_local, notification_queue
from waitlist.models import WaitlistOffer

SUBJECT = "An earlier appointment is free for you"


def offer_link(offer: WaitlistOffer) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/waitlist/offers/{offer.pk}/"


def offer_notify(*, event: EventLike) -> Notification | None:
    """Queue the offer's email, unless the offer was answered or ran out before the
    worker got to it (nobody needs an offer they can no longer take)."""
    offer_id = event.payload.get("offer_id")
    if not isinstance(offer_id, int):
        return None
    offer = (
        WaitlistOffer.objects.select_related("slot", "patient", "clinician")
        .filter(pk=offer_id)
        .first()
    )
    if offer is None or offer.status != WaitlistOffer.Status.OFFERED:
        return None
    if offer.expires_at <= timezone.now() or offer.slot.held_for_id != offer.patient_id:
        return None  # ran out, or the slot is no longer held for them (withdrawn, say)
    notification, _ = notification_queue(
        recipient=offer.patient,
        kind=Notification.Kind.WAITLIST_OFFER,
        event_id=event.id,
        subject=SUBJECT,
        body=render_to_string("waitlist/offer_email.txt", _context(offer)),
    )
    return notification


def _context(offer: WaitlistOffer) -> dict[str, Any]:
    patient = offer.patient
    return {
        "recipient": patient,
        "clinician": offer.clinician,
        "start": format_local(offer.slot.start, patient),
        "end": format_local(offer.slot.end, patient, time_only=True),
        "mode": offer.slot.get_mode_display(),
        "deadline": format_local(offer.expires_at, patient),
        "link": offer_link(offer),
        "offer_id": offer.pk,
    }
