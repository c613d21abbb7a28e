"""Scheduling's domain errors: one class per stable code, all ``core.errors.DomainError``."""

from __future__ import annotations

from enum import StrEnum

from core.errors import Conflict, InvalidRequest, NotAllowed, NotFound


class SchedulingErrorCode(StrEnum):
    SLOT_OVERLAP = "slot_overlap"
    SLOT_BOOKED = "slot_booked"
    SLOT_UNAVAILABLE = "slot_unavailable"
    SLOT_FULL = "slot_full"
    SLOT_HELD = "slot_held"
    SLOT_NOT_FOUND = "slot_not_found"
    APPOINTMENT_NOT_FOUND = "appointment_not_found"
    PATIENT_OVERLAP = "patient_overlap"
    NOTICE_TOO_SHORT = "booking_notice_too_short"
    BEYOND_HORIZON = "booking_beyond_horizon"
    CHANGE_CUTOFF_PASSED = "change_cutoff_passed"
    INVALID_TRANSITION = "invalid_transition"
    SAME_SLOT = "same_slot"
    OTHER_CLINICIAN = "other_clinician"
    INVALID_AVAILABILITY = "invalid_availability"
    FIELD_NOT_EDITABLE = "field_not_editable"
    APPOINTMENT_NOT_ACTIVE = "appointment_not_active"
    APPOINTMENT_NOT_STARTED = "appointment_not_started"
    SERIES_CONFLICT = "series_conflict"
    SERIES_NOT_FOUND = "series_not_found"
    SERIES_NOT_ACTIVE = "series_not_active"
    INVALID_SERIES = "invalid_series"


class SlotOverlap(Conflict):
    code = SchedulingErrorCode.SLOT_OVERLAP
    message = "The availability overlaps one of your existing slots."


class SlotBooked(Conflict):
    code = SchedulingErrorCode.SLOT_BOOKED
    message = "The slot is booked; cancel the appointment before withdrawing it."


class SlotUnavailable(Conflict):
    code = SchedulingErrorCode.SLOT_UNAVAILABLE
    message = "The slot is not open for booking."


class SlotFull(SlotUnavailable):
    """A group slot with every seat taken (a one-seat slot taken is ``SlotUnavailable``)."""

    code = SchedulingErrorCode.SLOT_FULL
    message = "Every seat of this slot is taken."


class SlotHeld(Conflict):
    """The slot's last free seat is held for another patient (a waitlist offer)."""

    code = SchedulingErrorCode.SLOT_HELD
    message = "The slot is held for another patient."


class SlotNotFound(NotFound):
    code = SchedulingErrorCode.SLOT_NOT_FOUND
    message = "Slot not found."


class AppointmentNotFound(NotFound):
    code = SchedulingErrorCode.APPOINTMENT_NOT_FOUND
    message = "Appointment not found."


class PatientOverlap(Conflict):
    code = SchedulingErrorCode.PATIENT_OVERLAP
    message = "The patient already has an appointment at that time."


class NoticeTooShort(Conflict):
    code = SchedulingErrorCode.NOTICE_TOO_SHORT
    message = "The slot starts too soon to be booked."


class BeyondHorizon(Conflict):
    code = SchedulingErrorCode.BEYOND_HORIZON
    message = "The slot is too far ahead to be booked yet."


class ChangeCutoffPassed(Conflict):
    code = SchedulingErrorCode.CHANGE_CUTOFF_PASSED
    message = "It is too late for a patient to change this appointment."


class InvalidTransition(Conflict):
    code = SchedulingErrorCode.INVALID_TRANSITION
    message = "The appointment cannot move to that status."


class SameSlot(Conflict):
    code = SchedulingErrorCode.SAME_SLOT
    message = "The appointment is already in that slot."


class OtherClinician(Conflict):
    code = SchedulingErrorCode.OTHER_CLINICIAN
    message = "A reschedule must stay with the same clinician."


class InvalidAvailability(InvalidRequest):
    code = SchedulingErrorCode.INVALID_AVAILABILITY
    message = "The availability is invalid."


class FieldNotEditable(NotAllowed):
    code = SchedulingErrorCode.FIELD_NOT_EDITABLE
    message = "Your role may not change these fields."


class AppointmentNotActive(Conflict):
    code = SchedulingErrorCode.APPOINTMENT_NOT_ACTIVE
    message = "The appointment is no longer active."


class AppointmentNotStarted(Conflict):
    code = SchedulingErrorCode.APPOINTMENT_NOT_STARTED
    message = "The appointment has not started yet."


class SeriesConflict(Conflict):
    """Occurrences of a series that cannot be booked: ``details.conflicts`` lists every
    one as {index, start, code}, the code being the single booking's (or ``no_slot``)."""

    code = SchedulingErrorCode.SERIES_CONFLICT
    message = "Some occurrences of the series cannot be booked; nothing was booked."


class SeriesNotFound(NotFound):
    code = SchedulingErrorCode.SERIES_NOT_FOUND
    message = "Appointment series not found."


class SeriesNotActive(Conflict):
    code = SchedulingErrorCode.SERIES_NOT_ACTIVE
    message = "No active occurrence of the series is left to cancel from there."


class InvalidSeries(InvalidRequest):
    code = SchedulingErrorCode.INVALID_SERIES
    message = "The series is invalid."
