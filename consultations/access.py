"""Who may see whose clinical records: the one rule every clinical selector starts from.

Patients see their own records. Clinicians (doctors and psychologists) see the records
of patients they have an appointment with, as scheduling's ``appointments_visible_to``
defines it. Staff read clinical records through the admin, not the API. Everyone else
sees nothing, and an unseen record answers 404.

Every read of another person's record (the reader is not the record's patient) writes
an audit row through ``core.read_audit.audit_read``, on every surface that shows it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from accounts.permissions import is_record_clinician, is_record_patient
from scheduling.selectors import appointments_visible_to


def related_patient_ids(user: User) -> QuerySet[Any]:
    """Subquery of the patients ``user`` (a clinician) has an appointment with."""
    return appointments_visible_to(user).values("patient_id")


def patient_visible_to(user: User, patient_id: int) -> bool:
    """May ``user`` see the clinical records of patient ``patient_id``?"""
    if is_record_patient(user):
        return user.pk == patient_id
    if is_record_clinician(user):
        return appointments_visible_to(user).filter(patient_id=patient_id).exists()
    return False
