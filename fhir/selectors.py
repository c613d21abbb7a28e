"""What each FHIR resource type reads, through the domains' own access rules.

Appointments and slots are scheduling's (``appointments_visible_to``,
``slots_visible_to``). Practitioners and their Schedules are the public directory
(active clinicians, as ``GET clinicians/``). Patients: staff see every patient, a
patient only themself, a clinician the patients they have an appointment with (the
rule of ``GET patients/{id}/appointments/``).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Role, User
from accounts.permissions import has_active_role, is_record_clinician, is_record_patient
from accounts.selectors import clinicians_list
from consultations.access import related_patient_ids
from core.sql import ListQuery
from scheduling.models import Appointment, Slot
from scheduling.selectors import appointments_visible_to, slot_list_query, slots_visible_to


def practitioners_visible_to(user: User) -> QuerySet[User]:
    return clinicians_list().order_by()


def patients_visible_to(user: User) -> QuerySet[User]:
    patients = User.objects.filter(role=Role.PATIENT).select_related("patient_profile")
    if has_active_role(user, Role.STAFF):
        return patients
    if is_record_patient(user):
        return patients.filter(pk=user.pk)
    if is_record_clinician(user):
        return patients.filter(pk__in=related_patient_ids(user))  # consultations' rule
    return patients.none()


def fhir_slots_visible_to(user: User) -> QuerySet[Slot]:
    return slots_visible_to(user)


def fhir_slot_list(user: User) -> ListQuery:
    """``fhir_slots_visible_to`` as the REST availability list reads it (core.sql's
    compiled statements), ordered by start and id."""
    return slot_list_query(user=user, filters={})


def fhir_appointments_visible_to(user: User) -> QuerySet[Appointment]:
    return appointments_visible_to(user).select_related("patient", "clinician")


def slot_clinician_and_times(slot_id: int) -> tuple[int, datetime, datetime] | None:
    """A slot's clinician, start and end (to check a booking's body against), or None."""
    return Slot.objects.filter(pk=slot_id).values_list("clinician_id", "start", "end").first()
