"""Writes of the accounts domain. Only these functions create users.

Self-registration (``patient_register``) can only ever make a patient; every other
role is created by staff through ``user_create`` (API and admin alike).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import CLINICIAN_ROLES, ClinicianProfile, PatientProfile, Role, User
from accounts.permissions import require_role
from accounts.staff_group import staff_group_membership_sync
from core.errors import Conflict, InvalidRequest, NotAllowed

CLINICIAN_PROFILE_FIELDS = frozenset(
    {"specialty", "hospital_id", "license_number", "bio", "min_notice_minutes", "max_horizon_days"}
)
SELF_EDITABLE_FIELDS = frozenset({"first_name", "last_name", "time_zone"})
STAFF_EDITABLE_FIELDS = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "time_zone",
        "role",
        "is_active",
        "is_staff",
        "is_superuser",
    }
)


def normalize_email(email: str) -> str:
    """Emails are stored lower-case; login and uniqueness are case-insensitive."""
    return email.strip().lower()


def _invalid_fields(errors: dict[str, Any]) -> InvalidRequest:
    # Same shape as DRF validation errors in the envelope: details.fields.<name> = [messages].
    return InvalidRequest(
        "The request has invalid fields.", code="validation_error", details={"fields": errors}
    )


def _email_taken() -> Conflict:
    return Conflict("An account with this email address already exists.", code="email_taken")


def _new_user(
    *,
    email: str,
    password: str,
    role: str,
    first_name: str,
    last_name: str,
    time_zone: str,
    extra_errors: dict[str, Any] | None = None,
) -> User:
    """A validated, unsaved user with a hashed password; every field error reported at once."""
    user = User(
        email=normalize_email(email),
        role=role,
        first_name=first_name,
        last_name=last_name,
        time_zone=time_zone,
        is_staff=role == Role.STAFF,  # staff sign in to the admin
    )
    errors: dict[str, Any] = dict(extra_errors or {})
    try:
        # Uniqueness is answered below with a 409, not as a field error.
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise _invalid_fields(errors)
    if User.objects.filter(email__iexact=user.email).exists():
        raise _email_taken()
    user.set_password(password)
    return user


def _save_new_user(user: User) -> None:
    # The check above gives the friendly answer; the case-insensitive unique constraint
    # makes it true when two requests race for the same address.
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise _email_taken() from exc


def _require_staff(actor: User) -> None:
    # A superuser made by createsuperuser is staff already; the flag covers older rows.
    if not getattr(actor, "is_superuser", False):
        require_role(actor, Role.STAFF)


def _ensure_profile(user: User) -> None:
    """The profile a role needs exists (rows of a former role are kept, never deleted)."""
    if user.role in CLINICIAN_ROLES:
        ClinicianProfile.objects.get_or_create(user=user)
    elif user.role == Role.PATIENT:
        PatientProfile.objects.get_or_create(user=user)
    staff_group_membership_sync(user)  # staff hold the admin permissions through the group


def _clinician_profile(user: User, data: dict[str, Any] | None) -> ClinicianProfile | None:
    """Validate the inline clinician profile; ``None`` when the role has none."""
    if user.role not in CLINICIAN_ROLES:
        if data:
            raise _invalid_fields(
                {"clinician_profile": ["Only doctors and psychologists have a clinician profile."]}
            )
        return None
    data = dict(data or {})
    unknown = sorted(set(data) - CLINICIAN_PROFILE_FIELDS)
    if unknown:
        raise _invalid_fields({"clinician_profile": {name: ["Unknown field."] for name in unknown}})
    profile = ClinicianProfile(**data)
    try:
        profile.full_clean(exclude=["user"])
    except ValidationError as exc:
        raise _invalid_fields({"clinician_profile": exc.message_dict}) from exc
    return profile


@transaction.atomic
def patient_register(
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    time_zone: str = "UTC",
) -> User:
    """Self-registration: always a patient, whatever the caller asked for."""
    user = _new_user(
        email=email,
        password=password,
        role=Role.PATIENT,
        first_name=first_name,
        last_name=last_name,
        time_zone=time_zone,
    )
    _save_new_user(user)
    PatientProfile.objects.create(user=user)
    return user


@transaction.atomic
def user_create(
    *,
    actor: User,
    email: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    time_zone: str = "UTC",
    clinician_profile: dict[str, Any] | None = None,
) -> User:
    """Staff create an account of any role; a clinician gets its profile from the inline dict."""
    _require_staff(actor)
    user = _new_user(
        email=email,
        password=password,
        role=role,
        first_name=first_name,
        last_name=last_name,
        time_zone=time_zone,
    )
    profile = _clinician_profile(user, clinician_profile)
    _save_new_user(user)
    if profile is not None:
        profile.user = user
        profile.save()
    _ensure_profile(user)
    return user


@transaction.atomic
def user_update_self(*, user: User, data: dict[str, Any]) -> User:
    """A user edits their own names and time zone (``PATCH me/``)."""
    unknown = sorted(set(data) - SELF_EDITABLE_FIELDS)
    if unknown:
        raise _invalid_fields({name: ["This field cannot be changed here."] for name in unknown})
    for name, value in data.items():
        setattr(user, name, value)
    try:
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        user.refresh_from_db()
        raise _invalid_fields(exc.message_dict) from exc
    user.save(update_fields=sorted(data))
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, data: dict[str, Any]) -> User:
    """Staff edit an account (the admin change form): role changes keep profiles and admin
    access consistent, and the email stays unique in any letter case."""
    _require_staff(actor)
    unknown = sorted(set(data) - STAFF_EDITABLE_FIELDS)
    if unknown:
        raise _invalid_fields({name: ["This field cannot be changed here."] for name in unknown})
    if "is_superuser" in data and not actor.is_superuser:
        raise NotAllowed("Only a superuser may grant or revoke superuser status.")
    data = dict(data)
    if "email" in data:
        data["email"] = normalize_email(data["email"])
        if User.objects.filter(email__iexact=data["email"]).exclude(id=user.id).exists():
            raise _email_taken()
    if "role" in data and "is_staff" not in data:
        # Staff use the admin; leaving the staff role takes that away (superusers keep it).
        data["is_staff"] = data["role"] == Role.STAFF or user.is_superuser
    for name, value in data.items():
        setattr(user, name, value)
    try:
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise _invalid_fields(exc.message_dict) from exc
    try:
        with transaction.atomic():
            user.save(update_fields=sorted(data))
    except IntegrityError as exc:
        raise _email_taken() from exc
    _ensure_profile(user)
    return user
