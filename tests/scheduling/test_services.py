"""Scheduling services: booking policy, lifecycle, availability. Given / when / then."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings

from core.errors import DomainError
from scheduling import services
from scheduling.models import Appointment, Slot
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
)
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db


def _code(excinfo: pytest.ExceptionInfo[DomainError]) -> str:
    return str(excinfo.value.code)


# --- booking ---------------------------------------------------------------------------


def test_book_marks_slot_booked_and_copies_times(doctor, patient, slot_at):
    slot = slot_at(doctor, 48)

    appointment = services.appointment_book(patient=patient, slot_id=slot.pk, reason="Cough")

    slot.refresh_from_db()
    assert slot.status == Slot.Status.BOOKED
    assert (appointment.start, appointment.end) == (slot.start, slot.end)
    assert appointment.clinician_id == doctor.pk
    assert appointment.status == Appointment.Status.SCHEDULED
    assert appointment.reason == "Cough"


def test_book_taken_slot_is_slot_unavailable(doctor, slot_at):
    slot = slot_at(doctor, 48)
    services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)

    assert _code(excinfo) == "slot_unavailable"
    assert excinfo.value.status == 409
    assert Appointment.objects.filter(slot=slot).count() == 1


@pytest.mark.parametrize("status", [Slot.Status.WITHDRAWN, Slot.Status.BLOCKED])
def test_book_slot_not_open_is_slot_unavailable(doctor, patient, slot_at, status):
    slot = slot_at(doctor, 48, status=status)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_book(patient=patient, slot_id=slot.pk)

    assert _code(excinfo) == "slot_unavailable"
    assert not Appointment.objects.exists()


def test_book_unknown_slot_is_not_found(patient):
    with pytest.raises(DomainError) as excinfo:
        services.appointment_book(patient=patient, slot_id=987654)

    assert excinfo.value.status == 404
    assert _code(excinfo) == "slot_not_found"


@override_settings(SCHEDULING_MIN_NOTICE_MINUTES=120)
def test_book_inside_min_notice_is_refused(doctor, patient, slot_at):
    slot = slot_at(doctor, 1)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_book(patient=patient, slot_id=slot.pk)

    assert _code(excinfo) == "booking_notice_too_short"
    assert excinfo.value.details["min_notice_minutes"] == 120
    slot.refresh_from_db()
    assert slot.status == Slot.Status.OPEN


@override_settings(SCHEDULING_MAX_HORIZON_DAYS=10)
def test_book_beyond_horizon_is_refused(doctor, patient, slot_at):
    slot = slot_at(doctor, 24 * 11)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_book(patient=patient, slot_id=slot.pk)

    assert _code(excinfo) == "booking_beyond_horizon"


@override_settings(SCHEDULING_MIN_NOTICE_MINUTES=600, SCHEDULING_MAX_HORIZON_DAYS=10)
def test_clinician_profile_overrides_policy(patient, slot_at):
    doctor = DoctorFactory(profile__min_notice_minutes=0, profile__max_horizon_days=30)
    soon, far = slot_at(doctor, 1), slot_at(doctor, 24 * 20)

    services.appointment_book(patient=patient, slot_id=soon.pk)
    services.appointment_book(patient=patient, slot_id=far.pk)

    assert Appointment.objects.filter(patient=patient).count() == 2


def test_patient_overlap_across_clinicians_is_refused(patient, slot_at):
    first = slot_at(DoctorFactory(), 48, minutes=60)
    second = slot_at(PsychologistFactory(), 48.5, minutes=30)
    services.appointment_book(patient=patient, slot_id=first.pk)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_book(patient=patient, slot_id=second.pk)

    assert _code(excinfo) == "patient_overlap"
    second.refresh_from_db()
    assert second.status == Slot.Status.OPEN


@pytest.mark.parametrize("factory", [DoctorFactory, StaffFactory])
def test_only_patients_book(factory, doctor, slot_at):
    slot = slot_at(doctor, 48)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_book(patient=factory(), slot_id=slot.pk)

    assert excinfo.value.status == 403


# --- cancel ----------------------------------------------------------------------------


def test_cancel_frees_slot_for_another_booking(doctor, patient, slot_at):
    slot = slot_at(doctor, 48)
    appointment = services.appointment_book(patient=patient, slot_id=slot.pk)

    services.appointment_cancel(actor=patient, appointment_id=appointment.pk, reason="Better")
    again = services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.cancelled_by == patient
    assert appointment.cancellation_reason == "Better"
    assert again.slot_id == slot.pk


@override_settings(SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS=24)
def test_patient_cannot_cancel_after_cutoff_but_clinician_can(doctor, patient, slot_at):
    slot = slot_at(doctor, 5)
    appointment = services.appointment_book(patient=patient, slot_id=slot.pk)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_cancel(actor=patient, appointment_id=appointment.pk)
    assert _code(excinfo) == "change_cutoff_passed"
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.SCHEDULED

    services.appointment_cancel(actor=doctor, appointment_id=appointment.pk, reason="Ill")
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED


def test_cancel_other_patients_appointment_is_not_found(doctor, slot_at):
    slot = slot_at(doctor, 48)
    appointment = services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_cancel(actor=PatientFactory(), appointment_id=appointment.pk)

    assert excinfo.value.status == 404
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.SCHEDULED


def test_cancel_twice_is_invalid_transition(doctor, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)
    services.appointment_cancel(actor=patient, appointment_id=appointment.pk)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_cancel(actor=patient, appointment_id=appointment.pk)

    assert _code(excinfo) == "invalid_transition"
    assert excinfo.value.details == {"from": "cancelled", "to": "cancelled", "allowed": []}


# --- confirm, complete -----------------------------------------------------------------


def test_confirm_by_clinician_then_again_is_invalid(doctor, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)

    services.appointment_confirm(actor=doctor, appointment_id=appointment.pk)
    with pytest.raises(DomainError) as excinfo:
        services.appointment_confirm(actor=doctor, appointment_id=appointment.pk)

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CONFIRMED
    assert appointment.confirmed_at is not None
    assert _code(excinfo) == "invalid_transition"
    assert "cancelled" in excinfo.value.details["allowed"]


def test_patient_cannot_confirm(doctor, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_confirm(actor=patient, appointment_id=appointment.pk)

    assert excinfo.value.status == 403


def test_other_clinician_cannot_confirm(doctor, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_confirm(actor=DoctorFactory(), appointment_id=appointment.pk)

    assert excinfo.value.status == 404


def test_complete_before_start_is_refused_and_after_start_is_final(doctor):
    past = AppointmentFactory(
        slot__clinician=doctor,
        slot__start=hours_from_now(-2),
        slot__end=hours_from_now(-1.5),
    )
    future = AppointmentFactory(slot__clinician=doctor)

    services.appointment_complete(actor=doctor, appointment_id=past.pk)
    with pytest.raises(DomainError) as excinfo:
        services.appointment_complete(actor=doctor, appointment_id=future.pk)
    with pytest.raises(DomainError) as cancel_completed:
        services.appointment_cancel(actor=doctor, appointment_id=past.pk)

    past.refresh_from_db()
    assert past.status == Appointment.Status.COMPLETED
    assert _code(excinfo) == "appointment_not_started"
    assert _code(cancel_completed) == "invalid_transition"


# --- reschedule ------------------------------------------------------------------------


def test_reschedule_moves_slot_and_keeps_previous(doctor, patient, slot_at):
    old, new = slot_at(doctor, 48), slot_at(doctor, 72)
    appointment = services.appointment_book(patient=patient, slot_id=old.pk)
    services.appointment_confirm(actor=doctor, appointment_id=appointment.pk)

    moved = services.appointment_reschedule(
        actor=patient, appointment_id=appointment.pk, new_slot_id=new.pk
    )

    old.refresh_from_db()
    new.refresh_from_db()
    assert (moved.slot_id, moved.previous_slot_id) == (new.pk, old.pk)
    assert (moved.start, moved.end) == (new.start, new.end)
    assert moved.status == Appointment.Status.SCHEDULED
    assert moved.confirmed_at is None
    assert (old.status, new.status) == (Slot.Status.OPEN, Slot.Status.BOOKED)


def test_reschedule_to_taken_slot_changes_nothing(doctor, patient, slot_at):
    old, taken = slot_at(doctor, 48), slot_at(doctor, 72)
    appointment = services.appointment_book(patient=patient, slot_id=old.pk)
    services.appointment_book(patient=PatientFactory(), slot_id=taken.pk)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_reschedule(
            actor=patient, appointment_id=appointment.pk, new_slot_id=taken.pk
        )

    assert _code(excinfo) == "slot_unavailable"
    appointment.refresh_from_db()
    old.refresh_from_db()
    assert appointment.slot_id == old.pk
    assert old.status == Slot.Status.BOOKED


@override_settings(SCHEDULING_MIN_NOTICE_MINUTES=600)
def test_reschedule_applies_booking_policy(doctor, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)
    too_soon = slot_at(doctor, 2)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_reschedule(
            actor=doctor, appointment_id=appointment.pk, new_slot_id=too_soon.pk
        )

    assert _code(excinfo) == "booking_notice_too_short"


def test_reschedule_into_patients_other_appointment_is_patient_overlap(patient, slot_at):
    doctor = DoctorFactory()
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)
    services.appointment_book(patient=patient, slot_id=slot_at(DoctorFactory(), 72).pk)
    clash = slot_at(doctor, 72)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_reschedule(
            actor=patient, appointment_id=appointment.pk, new_slot_id=clash.pk
        )

    assert _code(excinfo) == "patient_overlap"


def test_reschedule_to_other_clinician_or_same_slot_is_refused(doctor, patient, slot_at):
    slot = slot_at(doctor, 48)
    appointment = services.appointment_book(patient=patient, slot_id=slot.pk)
    foreign = slot_at(DoctorFactory(), 72)

    with pytest.raises(DomainError) as other:
        services.appointment_reschedule(
            actor=patient, appointment_id=appointment.pk, new_slot_id=foreign.pk
        )
    with pytest.raises(DomainError) as same:
        services.appointment_reschedule(
            actor=patient, appointment_id=appointment.pk, new_slot_id=slot.pk
        )

    assert (_code(other), _code(same)) == ("other_clinician", "same_slot")


@override_settings(SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS=24)
def test_patient_reschedule_after_cutoff_is_refused(doctor, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 5).pk)
    later = slot_at(doctor, 72)

    with pytest.raises(DomainError) as excinfo:
        services.appointment_reschedule(
            actor=patient, appointment_id=appointment.pk, new_slot_id=later.pk
        )

    assert _code(excinfo) == "change_cutoff_passed"
    later.refresh_from_db()
    assert later.status == Slot.Status.OPEN


# --- update ----------------------------------------------------------------------------


def test_update_patient_reason_and_clinician_notes(doctor, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)

    services.appointment_update(actor=patient, appointment_id=appointment.pk, reason="Rash")
    services.appointment_update(actor=doctor, appointment_id=appointment.pk, notes="Bring list")

    appointment.refresh_from_db()
    assert (appointment.reason, appointment.notes) == ("Rash", "Bring list")


def test_update_refuses_fields_of_other_role(doctor, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)

    with pytest.raises(DomainError) as by_patient:
        services.appointment_update(actor=patient, appointment_id=appointment.pk, notes="x")
    with pytest.raises(DomainError) as by_doctor:
        services.appointment_update(actor=doctor, appointment_id=appointment.pk, reason="x")

    assert by_patient.value.details == {"fields": ["notes"]}
    assert by_doctor.value.details == {"fields": ["reason"]}
    appointment.refresh_from_db()
    assert (appointment.reason, appointment.notes) == ("", "")


# --- availability ----------------------------------------------------------------------


def test_slot_create_splits_range(doctor):
    start = hours_from_now(48)

    slots = services.slot_create(
        clinician=doctor, start=start, end=start + timedelta(minutes=100), slot_minutes=30
    )

    assert [(s.start, s.end) for s in slots] == [
        (start + timedelta(minutes=30 * i), start + timedelta(minutes=30 * (i + 1)))
        for i in range(3)
    ]
    assert all(s.hospital_id == doctor.clinician_profile.hospital_id for s in slots)


def test_slot_create_overlap_is_conflict_and_creates_nothing(doctor, slot_at):
    existing = slot_at(doctor, 48, minutes=60)

    with pytest.raises(DomainError) as excinfo:
        services.slot_create(
            clinician=doctor,
            start=existing.start - timedelta(minutes=30),
            end=existing.start + timedelta(minutes=90),
            slot_minutes=30,
        )

    assert _code(excinfo) == "slot_overlap"
    assert excinfo.value.details == {"conflicting_slots": [existing.pk]}
    assert Slot.objects.count() == 1


def test_slot_create_next_to_existing_and_over_withdrawn_is_fine(doctor, slot_at):
    existing = slot_at(doctor, 48, minutes=60)
    withdrawn = slot_at(doctor, 72, minutes=60, status=Slot.Status.WITHDRAWN)

    services.slot_create(
        clinician=doctor, start=existing.end, end=existing.end + timedelta(minutes=30)
    )
    services.slot_create(clinician=doctor, start=withdrawn.start, end=withdrawn.end)

    assert Slot.objects.filter(clinician=doctor).count() == 4


def test_other_clinicians_slot_does_not_overlap(doctor, slot_at):
    other = slot_at(DoctorFactory(), 48)

    services.slot_create(clinician=doctor, start=other.start, end=other.end)

    assert Slot.objects.filter(start=other.start).count() == 2


@pytest.mark.parametrize(
    ("start_hours", "end_hours", "slot_minutes", "field"),
    [
        (48, 47, None, "end"),
        (-2, 1, None, "start"),
        (48, 48 + 24 * 800, None, "end"),
        (48, 49, 2, "slot_minutes"),
        (48, 48.2, 30, "slot_minutes"),
        (48, 48 + 24 * 30, 5, "slot_minutes"),
    ],
)
def test_slot_create_invalid_window(doctor, start_hours, end_hours, slot_minutes, field):
    with pytest.raises(DomainError) as excinfo:
        services.slot_create(
            clinician=doctor,
            start=hours_from_now(start_hours),
            end=hours_from_now(end_hours),
            slot_minutes=slot_minutes,
        )

    assert excinfo.value.status == 400
    assert field in excinfo.value.details["fields"]
    assert not Slot.objects.exists()


def test_withdraw_open_slot_and_refuse_booked(doctor, patient, slot_at):
    free, booked = slot_at(doctor, 48), slot_at(doctor, 72)
    services.appointment_book(patient=patient, slot_id=booked.pk)

    services.slot_withdraw(actor=doctor, slot_id=free.pk)
    with pytest.raises(DomainError) as excinfo:
        services.slot_withdraw(actor=doctor, slot_id=booked.pk)

    free.refresh_from_db()
    booked.refresh_from_db()
    assert free.status == Slot.Status.WITHDRAWN
    assert _code(excinfo) == "slot_booked"
    assert booked.status == Slot.Status.BOOKED


def test_withdraw_foreign_slot_is_not_found(doctor, slot_at):
    foreign = slot_at(DoctorFactory(), 48)

    with pytest.raises(DomainError) as excinfo:
        services.slot_withdraw(actor=doctor, slot_id=foreign.pk)

    assert excinfo.value.status == 404
    foreign.refresh_from_db()
    assert foreign.status == Slot.Status.OPEN


def test_the_booking_lock_reads_the_slot_its_clinician_and_the_overrides():
    from accounts.models import ClinicianProfile
    from scheduling.lock_objects import slot_lock_for_booking

    # given a clinician with overrides, one without a profile, and their slots
    with_policy = DoctorFactory(
        first_name="Ada", last_name="Lovelace", profile__min_notice_minutes=15,
        profile__max_horizon_days=7,
    )  # fmt: skip
    without = PsychologistFactory()
    ClinicianProfile.objects.filter(user=without).delete()
    first, second = SlotFactory(clinician=with_policy), SlotFactory(clinician=without)
    with transaction.atomic():
        # when each is locked for booking
        locked_first = slot_lock_for_booking(first.pk)
        locked_second = slot_lock_for_booking(second.pk)
        missing = slot_lock_for_booking(10**12)
    # then each carries its row, its clinician's name and role, and the overrides
    assert missing is None
    assert locked_first is not None
    assert locked_second is not None
    slot, overrides = locked_first
    assert slot == first
    assert (slot.start, slot.end, slot.status) == (first.start, first.end, first.status)
    assert (slot.clinician.full_name, slot.clinician.role) == ("Ada Lovelace", "doctor")
    assert overrides == (15, 7)
    assert locked_second[1] == (None, None)
    assert locked_second[0].clinician.role == "psychologist"
