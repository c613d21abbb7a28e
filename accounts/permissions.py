"""Role checks shared by every app's API.

Role refusals are 403 in the error envelope (DRF's ``PermissionDenied`` goes through
``core.errors.api_exception_handler``). Whether a *record* is visible is a different
question, answered by each domain's selectors with a 404.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import CLINICIAN_ROLES, Role, User
from core.errors import NotAllowed


def _user(request: Request) -> User | None:
    user = request.user
    if isinstance(user, User) and user.is_authenticated and user.is_active:
        return user
    return None


def is_patient(user: Any) -> bool:
    return isinstance(user, User) and user.is_authenticated and user.role == Role.PATIENT


def is_clinician(user: Any) -> bool:
    return isinstance(user, User) and user.is_authenticated and user.role in CLINICIAN_ROLES


def is_doctor(user: Any) -> bool:
    return isinstance(user, User) and user.is_authenticated and user.role == Role.DOCTOR


def is_staff_role(user: Any) -> bool:
    return isinstance(user, User) and user.is_authenticated and user.role == Role.STAFF


def require_role(user: Any, *roles: str) -> None:
    """For services and views that check a role in code: raise a 403 ``NotAllowed``."""
    if not (isinstance(user, User) and user.is_authenticated and user.role in roles):
        raise NotAllowed(
            "This action needs the role " + " or ".join(roles) + ".",
            code="role_not_allowed",
            details={"allowed_roles": list(roles)},
        )


class _RolePermission(BasePermission):
    """Authenticated (else 401 via DRF) and holding one of ``roles`` (else 403)."""

    roles: tuple[str, ...] = ()
    message = "Your role may not perform this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = _user(request)
        # False with an anonymous user makes DRF answer 401 (not_authenticated), not 403.
        return user is not None and user.role in self.roles


class IsPatient(_RolePermission):
    roles = (Role.PATIENT,)
    message = "Only patients may perform this action."


class IsClinician(_RolePermission):
    roles = tuple(CLINICIAN_ROLES)
    message = "Only doctors and psychologists may perform this action."


class IsDoctor(_RolePermission):
    roles = (Role.DOCTOR,)
    message = "Only doctors may perform this action."


class IsStaffRole(_RolePermission):
    roles = (Role.STAFF,)
    message = "Only staff may perform this action."


class IsClinicianOrStaff(_RolePermission):
    roles = (*CLINICIAN_ROLES, Role.STAFF)
    message = "Only clinicians and staff may perform this action."
