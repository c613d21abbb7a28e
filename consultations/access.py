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

from accounts.models import CLINICIAN_ROLES, Role, User
from scheduling.selectors import appointments_visible_to


def _active_role(user: Any) -> str | None:
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return None
    return user.role


def is_record_patient(user: Any) -> bool:
    return _active_role(user) == Role.PATIENT


def is_record_clinician(user: Any) -> bool:
    return _active_role(user) in CLINICIAN_ROLES


def related_patient_ids(user: User) -> QuerySet[Any]:
    """Subquery of the patients ``user`` (a clinician) has an appointment with."""
    return appointments_visible_to(user).values("patient_id")


def patient_visible_to(user: User, patient_id: int) -> bool:
    """May ``user`` see the clinical records of patient ``patient_id``?"""
    role = _active_role(user)
    if role == Role.PATIENT:
        return user.pk == patient_id
    if role in CLINICIAN_ROLES:
        return appointments_visible_to(user).filter(patient_id=patient_id).exists()
    return False
