"""Scheduling writes, one module per concern:

* ``availability``: publishing and withdrawing one-off slots;
* ``rules``: weekly rules and their expansion into slots;
* ``policy``: booking notice, horizon and the patient's change cut-off;
* ``booking``: booking a slot (the hot path);
* ``series``: recurring series, booked and cancelled as a whole;
* ``appointments``: what happens to an appointment after booking (the rules of which
  are ``scheduling.lifecycle``).

Importers may use ``scheduling.services`` for any public name below.
"""

from scheduling.services.appointments import (
    appointment_cancel,
    appointment_complete,
    appointment_confirm,
    appointment_mark_no_show,
    appointment_reschedule,
    appointment_update,
)
from scheduling.services.availability import (
    MAX_PUBLISH_AHEAD,
    MAX_SLOT_MINUTES,
    MAX_SLOTS_PER_REQUEST,
    MIN_SLOT_MINUTES,
    slot_create,
    slot_withdraw,
)
from scheduling.services.booking import appointment_book
from scheduling.services.policy import (
    BookingPolicy,
    booking_policy_for,
    booking_policy_from_overrides,
)
from scheduling.services.rules import RuleExpansion, rule_create, rule_expand
from scheduling.services.series import SeriesBooking, series_book, series_cancel

__all__ = [
    "MAX_PUBLISH_AHEAD",
    "MAX_SLOTS_PER_REQUEST",
    "MAX_SLOT_MINUTES",
    "MIN_SLOT_MINUTES",
    "BookingPolicy",
    "RuleExpansion",
    "SeriesBooking",
    "appointment_book",
    "appointment_cancel",
    "appointment_complete",
    "appointment_confirm",
    "appointment_mark_no_show",
    "appointment_reschedule",
    "appointment_update",
    "booking_policy_for",
    "booking_policy_from_overrides",
    "rule_create",
    "rule_expand",
    "series_book",
    "series_cancel",
    "slot_create",
    "slot_withdraw",
]
