"""Reads of scheduling data. Every query of appointments starts at ``appointments_visible_to``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, Role, User
from core.errors import NotFound
from scheduling.errors import AppointmentNotFound
from scheduling.models import Appointment, Slot


def _role(user: User) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    return user.role


def appointments_visible_to(user: User) -> QuerySet[Appointment]:
    """THE access rule: patients see their own, clinicians theirs, staff all.

    No joins here so services can lock rows straight from this queryset.
    """
    role = _role(user)
    if role == Role.STAFF:
        return Appointment.objects.all()
    if role in CLINICIAN_ROLES:
        return Appointment.objects.filter(clinician_id=user.pk)
    if role == Role.PATIENT:
        return Appointment.objects.filter(patient_id=user.pk)
    return Appointment.objects.none()


def _with_relations(queryset: QuerySet[Appointment]) -> QuerySet[Appointment]:
    # Only the relations the API body reads; every extra join costs PostgreSQL planning
    # time on each list request (a 7-table join planned in ~4 ms, ten times its run time).
    return queryset.select_related("slot", "patient", "clinician")


# The columns an API list body reads from each joined row (serializers.appointment_rows_output).
_PERSON_COLUMNS = ("first_name", "last_name", "role")
_ROW_COLUMNS = (
    *(field.attname for field in Appointment._meta.concrete_fields),
    "slot__mode",
    "slot__hospital_id",
    *(f"patient__{name}" for name in _PERSON_COLUMNS),
    *(f"clinician__{name}" for name in _PERSON_COLUMNS),
)


def appointment_get_for(*, user: User, appointment_id: int) -> Appointment:
    appointment = _with_relations(appointments_visible_to(user)).filter(pk=appointment_id).first()
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


def appointments_list(*, user: User) -> QuerySet[Appointment]:
    return _with_relations(appointments_visible_to(user)).order_by("start", "id")


class AppointmentRows:
    """An appointment list as a paginator sees it: counted on the list itself (no joins),
    its pages read as plain rows of the columns an API list body reads. On a 50-row page
    a model instance per row and per joined person cost more than the query."""

    def __init__(self, queryset: QuerySet[Appointment]) -> None:
        self._queryset = queryset

    @property
    def ordered(self) -> bool:
        return self._queryset.ordered

    def count(self) -> int:
        return self._queryset.count()

    def __getitem__(self, page: slice) -> list[dict[str, Any]]:
        return list(self._queryset[page].values(*_ROW_COLUMNS))


def patient_appointments_list(*, user: User, patient_id: int) -> QuerySet[Appointment]:
    """A patient's appointments as ``user`` may see them; an unseen patient is a 404."""
    visible = appointments_list(user=user).filter(patient_id=patient_id)
    role = _role(user)
    if role == Role.STAFF:
        known = User.objects.filter(pk=patient_id, role=Role.PATIENT).exists()
    elif role == Role.PATIENT:
        known = user.pk == patient_id
    else:
        known = visible.exists()
    if not known:
        raise NotFound("Patient not found.", code="patient_not_found")
    return visible


def clinician_appointments_list(*, user: User, clinician_id: int) -> QuerySet[Appointment]:
    """A clinician's appointments as ``user`` may see them; an unseen clinician is a 404.

    Clinicians are public in the directory, so a patient may ask about any clinician
    and sees only their own appointments with them; another clinician sees nothing.
    """
    role = _role(user)
    if role in CLINICIAN_ROLES:
        known = user.pk == clinician_id
    else:
        known = User.objects.filter(pk=clinician_id, role__in=CLINICIAN_ROLES).exists()
    if not known:
        raise NotFound("Clinician not found.", code="clinician_not_found")
    return appointments_list(user=user).filter(clinician_id=clinician_id)


def slots_visible_to(user: User) -> QuerySet[Slot]:
    """Open future slots are public to signed-in users; a clinician sees all of their own."""
    role = _role(user)
    bookable = Q(status=Slot.Status.OPEN, start__gt=timezone.now())
    if role == Role.STAFF:
        return Slot.objects.all()
    if role in CLINICIAN_ROLES:
        return Slot.objects.filter(bookable | Q(clinician_id=user.pk))
    if role == Role.PATIENT:
        return Slot.objects.filter(bookable)
    return Slot.objects.none()


def slots_list(
    *,
    user: User,
    clinician_id: int | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    status: str | None = None,
) -> QuerySet[Slot]:
    queryset = slots_visible_to(user)  # the body carries clinician and hospital ids only
    if clinician_id is not None:
        queryset = queryset.filter(clinician_id=clinician_id)
    if start_from is not None:
        queryset = queryset.filter(start__gte=start_from)
    if start_to is not None:
        queryset = queryset.filter(start__lt=start_to)
    if status is not None:
        queryset = queryset.filter(status=status)
    return queryset.order_by("start", "id")


def slots_overlapping(*, clinician_id: int, start: datetime, end: datetime) -> QuerySet[Slot]:
    """A clinician's live slots (not withdrawn) that intersect ``[start, end)``."""
    return Slot.objects.filter(clinician_id=clinician_id, start__lt=end, end__gt=start).exclude(
        status=Slot.Status.WITHDRAWN
    )


def patient_overlapping_appointments(
    *, patient_id: int, start: datetime, end: datetime, exclude_id: int | None = None
) -> QuerySet[Appointment]:
    queryset = Appointment.objects.filter(
        patient_id=patient_id,
        status__in=Appointment.ACTIVE_STATUSES,
        start__lt=end,
        end__gt=start,
    )
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset
