"""Reads of scheduling data. Every query of appointments starts at ``appointments_visible_to``."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any, cast

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, Role, User
from core.errors import NotFound
from core.sql import ListQuery, Values
from scheduling.errors import AppointmentNotFound, SeriesNotFound
from scheduling.models import Appointment, AppointmentSeries, Slot


def _role(user: User) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    return user.role


def _visibility(user: User) -> tuple[str | None, dict[str, Any]]:
    """The viewer's role, and the values the access rules below read."""
    role = _role(user)
    return role, {"viewer": user.pk} if role in (*CLINICIAN_ROLES, Role.PATIENT) else {}


def appointments_visible_to(user: User) -> QuerySet[Appointment]:
    """THE access rule: patients see their own, clinicians theirs, staff all.

    No joins here so services can lock rows straight from this queryset.
    """
    return _visible_appointments(*_visibility(user))


def _visible_appointments(role: str | None, values: Values) -> QuerySet[Appointment]:
    if role == Role.STAFF:
        return Appointment.objects.all()
    if role in CLINICIAN_ROLES:
        return Appointment.objects.filter(clinician_id=values["viewer"])
    if role == Role.PATIENT:
        return Appointment.objects.filter(patient_id=values["viewer"])
    return Appointment.objects.none()


def _with_relations(queryset: QuerySet[Appointment]) -> QuerySet[Appointment]:
    # Only the relations the API body reads: every extra join adds PostgreSQL planning
    # time to each list request (docs/performance.md, "Scheduling's joins").
    return queryset.select_related("slot", "patient", "clinician")


# The columns an API list body reads from each joined row (serializers.appointment_rows_output).
_PERSON_COLUMNS = ("first_name", "last_name", "role")
APPOINTMENT_ROW_COLUMNS = (
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


# --- recurring series -----------------------------------------------------------------


def series_visible_to(user: User) -> QuerySet[AppointmentSeries]:
    """The series rule, as the appointments': patients their own, clinicians theirs, staff
    all. No joins, so services can lock rows straight from it."""
    role, values = _visibility(user)
    if role == Role.STAFF:
        return AppointmentSeries.objects.all()
    if role in CLINICIAN_ROLES:
        return AppointmentSeries.objects.filter(clinician_id=values["viewer"])
    if role == Role.PATIENT:
        return AppointmentSeries.objects.filter(patient_id=values["viewer"])
    return AppointmentSeries.objects.none()


def _series_with_occurrences(queryset: QuerySet[AppointmentSeries]) -> QuerySet[AppointmentSeries]:
    """With both people and every occurrence (its slot and people) in two more queries."""
    occurrences = _with_relations(Appointment.objects.all()).order_by("start", "id")
    return queryset.select_related("patient", "clinician").prefetch_related(
        Prefetch("appointments", queryset=occurrences)
    )


def series_get_for(*, user: User, series_id: int) -> AppointmentSeries:
    series = _series_with_occurrences(series_visible_to(user)).filter(pk=series_id).first()
    if series is None:
        raise SeriesNotFound()
    return series


def series_list(*, user: User) -> QuerySet[AppointmentSeries]:
    return _series_with_occurrences(series_visible_to(user)).order_by("-created_at", "-id")


# --- the API's lists, as core.sql.ListQuery: compiled once per shape -------------------
#
# Each query's values are the viewer's (``_visibility``), a path id, and the list's
# filters as ORM lookups (``start__gte``: StaticFilterSet.plain_lookups); a name with
# ``__`` in it is a filter. The builders are the querysets the functions above build.


def _filters(values: Values) -> dict[str, Any]:
    return {name: value for name, value in values.items() if "__" in name}


def _appointment_list(role: Hashable, values: Values) -> QuerySet[Appointment]:
    visible = _visible_appointments(cast("str | None", role), values)
    return visible.filter(**_filters(values)).order_by("start", "id")


def _patient_appointment_list(role: Hashable, values: Values) -> QuerySet[Appointment]:
    return _appointment_list(role, values).filter(patient_id=values["patient"])


def _clinician_appointment_list(role: Hashable, values: Values) -> QuerySet[Appointment]:
    return _appointment_list(role, values).filter(clinician_id=values["clinician"])


def appointment_list_query(*, user: User, filters: Values) -> ListQuery:
    role, values = _visibility(user)
    return ListQuery(Appointment, _appointment_list, role, {**values, **filters})


def patient_appointment_list_query(*, user: User, patient_id: int, filters: Values) -> ListQuery:
    """A patient's appointments as ``user`` may see them; an unseen patient is a 404."""
    _require_patient_seen(user, patient_id)
    role, values = _visibility(user)
    values = {**values, "patient": patient_id, **filters}
    return ListQuery(Appointment, _patient_appointment_list, role, values)


def clinician_appointment_list_query(
    *, user: User, clinician_id: int, filters: Values
) -> ListQuery:
    """A clinician's appointments as ``user`` may see them; an unseen clinician is a 404."""
    _require_clinician_seen(user, clinician_id)
    role, values = _visibility(user)
    values = {**values, "clinician": clinician_id, **filters}
    return ListQuery(Appointment, _clinician_appointment_list, role, values)


def _slot_list(role: Hashable, values: Values) -> QuerySet[Slot]:
    visible = _visible_slots(cast("str | None", role), values)
    return visible.filter(**_filters(values)).order_by("start", "id")


SLOT_ROW_COLUMNS = tuple(field.attname for field in Slot._meta.concrete_fields)


def slot_list_query(*, user: User, filters: Values) -> ListQuery:
    role, values = _slot_visibility(user)
    return ListQuery(Slot, _slot_list, role, {**values, **filters})


def _require_patient_seen(user: User, patient_id: int) -> None:
    """An unseen patient is a 404: staff see every patient, a patient only themselves, a
    clinician those they have an appointment with."""
    role = _role(user)
    if role == Role.STAFF:
        known = User.objects.filter(pk=patient_id, role=Role.PATIENT).exists()
    elif role == Role.PATIENT:
        known = user.pk == patient_id
    else:
        known = appointments_visible_to(user).filter(patient_id=patient_id).exists()
    if not known:
        raise NotFound("Patient not found.", code="patient_not_found")


def patient_for_booking(*, user: User, patient_id: int) -> User:
    """The patient ``user`` books for: staff (the front desk) name any active patient,
    a patient only themselves; anyone else, or an id that is no active patient, is a
    404 (the caller refuses other roles first)."""
    role = _role(user)
    if role == Role.PATIENT and patient_id == user.pk:
        return user
    found = None
    if role == Role.STAFF:
        found = User.objects.filter(pk=patient_id, role=Role.PATIENT, is_active=True).first()
    if found is None:
        raise NotFound("Patient not found.", code="patient_not_found")
    return found


def _require_clinician_seen(user: User, clinician_id: int) -> None:
    """An unseen clinician is a 404. Clinicians are public in the directory, so a patient
    may ask about any clinician and sees only their own appointments with them; another
    clinician sees nothing."""
    if _role(user) in CLINICIAN_ROLES:
        known = user.pk == clinician_id
    else:
        known = User.objects.filter(pk=clinician_id, role__in=CLINICIAN_ROLES).exists()
    if not known:
        raise NotFound("Clinician not found.", code="clinician_not_found")


def slots_visible_to(user: User) -> QuerySet[Slot]:
    """Open future slots are public to signed-in users; a clinician sees all of their own."""
    return _visible_slots(*_slot_visibility(user))


def _slot_visibility(user: User) -> tuple[str | None, dict[str, Any]]:
    role, values = _visibility(user)
    if role in (*CLINICIAN_ROLES, Role.PATIENT):
        values["now"] = timezone.now()
    if role == Role.PATIENT:
        del values["viewer"]  # every patient sees the same slots
    return role, values


def _visible_slots(role: str | None, values: Values) -> QuerySet[Slot]:
    if role == Role.STAFF:
        return Slot.objects.all()
    bookable = Q(status=Slot.Status.OPEN, start__gt=values.get("now"))
    if role in CLINICIAN_ROLES:
        return Slot.objects.filter(bookable | Q(clinician_id=values["viewer"]))
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
