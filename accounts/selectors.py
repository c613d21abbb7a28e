"""Reads of the accounts domain, shared by the API, the dashboards and other apps."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import CLINICIAN_ROLES, Hospital, Role, User
from core.errors import NotFound


def clinicians_list(
    *, kind: str | None = None, specialty: str | None = None, hospital_id: int | None = None
) -> QuerySet[User]:
    """Active doctors and psychologists with profile and hospital in the same query."""
    queryset = (
        User.objects.filter(role__in=CLINICIAN_ROLES, is_active=True)
        .select_related("clinician_profile", "clinician_profile__hospital")
        .order_by("last_name", "first_name", "id")
    )
    if kind:
        queryset = queryset.filter(role=kind)
    if specialty:
        queryset = queryset.filter(clinician_profile__specialty__icontains=specialty)
    if hospital_id is not None:
        queryset = queryset.filter(clinician_profile__hospital_id=hospital_id)
    return queryset


def hospitals_list() -> QuerySet[Hospital]:
    return Hospital.objects.order_by("name", "id")


def hospital_get(*, hospital_id: int) -> Hospital:
    try:
        return hospitals_list().get(id=hospital_id)
    except Hospital.DoesNotExist:
        raise NotFound("No such hospital.") from None


def users_visible_to(viewer: User) -> QuerySet[User]:
    """Staff see every account; everyone else sees only their own."""
    queryset = User.objects.select_related("clinician_profile", "clinician_profile__hospital")
    if viewer.is_authenticated and viewer.role == Role.STAFF:
        return queryset
    return queryset.filter(id=viewer.id)


def user_get_for(*, viewer: User, user_id: int) -> User:
    """The account ``user_id`` if ``viewer`` may see it; otherwise 404 (no existence leak)."""
    try:
        return users_visible_to(viewer).get(id=user_id)
    except User.DoesNotExist:
        raise NotFound("No such user.") from None
