"""Who holds which role: the predicates and DRF permissions every app's API shares.

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


def _active_role(user: Any) -> str | None:
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return None
    return user.role


def has_active_role(user: Any, *roles: str) -> bool:
    """Signed in, active, and holding one of ``roles``."""
    return _active_role(user) in roles


def is_record_patient(user: Any) -> bool:
    """An active patient: reads their own clinical records."""
    return _active_role(user) == Role.PATIENT


def is_record_clinician(user: Any) -> bool:
    """An active doctor or psychologist: reads and writes their patients' records."""
    return _active_role(user) in CLINICIAN_ROLES


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
    """Active and holding one of ``roles`` (else 403; anonymous: 401 through DRF)."""

    roles: tuple[str, ...] = ()
    message = "Your role may not perform this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        # False with an anonymous user makes DRF answer 401 (not_authenticated), not 403.
        return _active_role(request.user) in self.roles


class IsStaffRole(_RolePermission):
    roles = (Role.STAFF,)
    message = "Only staff may perform this action."


class IsClinicianOrStaff(_RolePermission):
    roles = (*CLINICIAN_ROLES, Role.STAFF)
    message = "Only clinicians and staff may perform this action."


class IsRecordReader(_RolePermission):
    """Patients and clinicians use the clinical API; staff use the admin (403 here)."""

    roles = (Role.PATIENT, *CLINICIAN_ROLES)
    message = "Clinical records are read by patients and clinicians; staff use the admin."


class IsRecordWriter(_RolePermission):
    roles = tuple(CLINICIAN_ROLES)
    message = "Only doctors and psychologists may change clinical records."
