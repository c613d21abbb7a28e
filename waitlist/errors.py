"""The waitlist's domain errors: one class per stable code, all ``core.errors.DomainError``."""

from __future__ import annotations

from enum import StrEnum

from core.errors import Conflict, DomainError, InvalidRequest, NotFound


class WaitlistErrorCode(StrEnum):
    WAITLIST_DUPLICATE = "waitlist_duplicate"
    ENTRY_NOT_FOUND = "waitlist_entry_not_found"
    ENTRY_NOT_ACTIVE = "waitlist_entry_not_active"
    OFFER_NOT_FOUND = "offer_not_found"
    OFFER_EXPIRED = "offer_expired"
    OFFER_NOT_OPEN = "offer_not_open"
    CLINICIAN_NOT_FOUND = "clinician_not_found"
    INVALID_WAITLIST = "invalid_waitlist"


class WaitlistDuplicate(Conflict):
    code = WaitlistErrorCode.WAITLIST_DUPLICATE
    message = "You are already on this clinician's waitlist."


class EntryNotFound(NotFound):
    code = WaitlistErrorCode.ENTRY_NOT_FOUND
    message = "Waitlist entry not found."


class EntryNotActive(Conflict):
    code = WaitlistErrorCode.ENTRY_NOT_ACTIVE
    message = "The waitlist entry has already ended."


class OfferNotFound(NotFound):
    code = WaitlistErrorCode.OFFER_NOT_FOUND
    message = "Offer not found."


class OfferExpired(DomainError):
    """The offer's hold ran out: the slot has passed on (410 Gone)."""

    status = 410
    code = WaitlistErrorCode.OFFER_EXPIRED
    message = "The offer has expired; the slot was passed on."


class OfferNotOpen(Conflict):
    """Accepting a declined (or withdrawn) offer, or declining an accepted one."""

    code = WaitlistErrorCode.OFFER_NOT_OPEN
    message = "The offer is no longer open."


class ClinicianNotFound(NotFound):
    code = WaitlistErrorCode.CLINICIAN_NOT_FOUND
    message = "Clinician not found."


class InvalidWaitlist(InvalidRequest):
    code = WaitlistErrorCode.INVALID_WAITLIST
    message = "The waitlist entry is invalid."
