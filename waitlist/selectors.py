"""Reads of the waitlist. Every query of entries and offers starts at the access helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, Role, User
from core.sql import first_row
from waitlist.errors import EntryNotFound, OfferNotFound
from waitlist.models import WaitlistEntry, WaitlistOffer

Offer = WaitlistOffer.Status


def _role(user: User) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    return user.role


def entries_visible_to(user: User) -> QuerySet[WaitlistEntry]:
    """THE access rule for entries: patients see their own, clinicians those waiting for
    them, staff all. No joins, so services can lock rows straight from it."""
    role = _role(user)
    if role == Role.STAFF:
        return WaitlistEntry.objects.all()
    if role in CLINICIAN_ROLES:
        return WaitlistEntry.objects.filter(clinician_id=user.pk)
    if role == Role.PATIENT:
        return WaitlistEntry.objects.filter(patient_id=user.pk)
    return WaitlistEntry.objects.none()


def offers_visible_to(user: User) -> QuerySet[WaitlistOffer]:
    """The same rule for offers: the offered patient, the slot's clinician, staff."""
    role = _role(user)
    if role == Role.STAFF:
        return WaitlistOffer.objects.all()
    if role in CLINICIAN_ROLES:
        return WaitlistOffer.objects.filter(clinician_id=user.pk)
    if role == Role.PATIENT:
        return WaitlistOffer.objects.filter(patient_id=user.pk)
    return WaitlistOffer.objects.none()


def entry_get_for(*, user: User, entry_id: int) -> WaitlistEntry:
    entry = entries_visible_to(user).filter(pk=entry_id).first()
    if entry is None:
        raise EntryNotFound()
    return entry


def offer_get_for(*, user: User, offer_id: int) -> WaitlistOffer:
    offer = offers_visible_to(user).select_related("slot").filter(pk=offer_id).first()
    if offer is None:
        raise OfferNotFound()
    return offer


def entries_list(*, user: User, status: str | None = None) -> QuerySet[WaitlistEntry]:
    """The entries ``user`` may see, in offer order (priority, then joined first)."""
    entries = entries_visible_to(user)
    if status:
        entries = entries.filter(status=status)
    return entries.order_by("clinician_id", "-priority", "created_at", "pk")


def offers_list(*, user: User, status: str | None = None) -> QuerySet[WaitlistOffer]:
    """The offers ``user`` may see, newest first, with their slot."""
    offers = offers_visible_to(user).select_related("slot")
    if status:
        offers = offers.filter(status=status)
    return offers.order_by("-created_at", "-pk")


def offer_status_at(offer: WaitlistOffer, now: datetime | None = None) -> str:
    """The offer's status as a reader should see it: an ``offered`` row past its deadline
    is ``expired`` already (the sweep or the next touch writes it)."""
    if offer.status == Offer.OFFERED and offer.expires_at <= (now or timezone.now()):
        return str(Offer.EXPIRED)
    return str(offer.status)


def waitlist_counts(clinician: User) -> tuple[int, int]:
    """(active entries waiting for ``clinician``, live offers of their slots): the
    dashboard's two figures. Two indexed counts (partial indexes on the active rows)."""
    active = WaitlistEntry.objects.filter(
        clinician_id=clinician.pk, status=WaitlistEntry.Status.ACTIVE
    ).count()
    live = WaitlistOffer.objects.filter(
        clinician_id=clinician.pk, status=Offer.OFFERED, expires_at__gt=timezone.now()
    ).count()
    return active, live


def clinician_has_waiting(clinician_id: int) -> bool:
    """Whether anyone waits for ``clinician_id``: the one indexed EXISTS every trigger
    (a cancellation, a reschedule, new availability) costs when nobody does."""
    return WaitlistEntry.objects.filter(
        clinician_id=clinician_id, status=WaitlistEntry.Status.ACTIVE
    ).exists()


def _patient_active_entry(patient_id: int) -> QuerySet[Any, Any]:
    return WaitlistEntry.objects.filter(
        patient_id=patient_id, status=WaitlistEntry.Status.ACTIVE
    ).values_list("id")


def patient_waits(patient_id: int) -> bool:
    """Whether ``patient_id`` waits for anyone: the one read every booking pays (compiled
    once per process, see ``first_row``), before anything heavier looks at the entry."""
    return first_row(_patient_active_entry, patient_id, model=WaitlistEntry) is not None
