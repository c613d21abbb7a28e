"""Writes of the accounts domain. Only these functions create users.

Self-registration (``patient_register``) can only ever make a patient; every other
role is created by staff through ``user_create`` (API and admin alike).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.lock_objects import hospital_lock, outstanding_token_lock, user_lock
from accounts.models import (
    CLINICIAN_ROLES,
    ClinicianProfile,
    Hospital,
    PatientProfile,
    Role,
    User,
)
from accounts.permissions import require_role
from accounts.staff_group import staff_group_membership_sync
from core.audit import audit_record, diff
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


# Roles whose account a non-superuser staff member may not take over: no setting of their
# password, no change of their email address (a new address plus a reset link would be a
# takeover too). Staff send these users a reset link or deactivate them instead.
HOSPITAL_EDITABLE_FIELDS = Hospital.DIRECTORY_FIELDS


PROTECTED_ROLES = frozenset({Role.STAFF, *CLINICIAN_ROLES})
CREDENTIALS_CHANGED = "user.credentials_changed"
PASSWORD_RESET_LINK_SENT = "user.password_reset_link_sent"  # noqa: S105 - an action name


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


def _stored(user: User) -> User:
    """The row as committed, locked for this transaction: boundaries are decided on what the
    account is, not on what a form has already set on the instance."""
    return user_lock(user.pk)


def _require_may_change(actor: User, user: User) -> User:
    """Only a superuser may change a superuser (the row as stored). Returns that row."""
    stored = _stored(user)
    if stored.is_superuser and not actor.is_superuser:
        raise NotAllowed("Only a superuser may change a superuser's account.")
    return stored


def _is_protected(actor: User, stored: User) -> bool:
    """Another person's staff or clinician account, as seen by a non-superuser."""
    return not actor.is_superuser and actor.pk != stored.pk and stored.role in PROTECTED_ROLES


def credentials_revoke(*, user: User) -> int:
    """Raise the user's credentials version (on the instance: the caller saves it) and
    blacklist every unexpired refresh token of theirs; returns how many were blacklisted.

    The version ends the rest: access tokens and refresh tokens issued before (even by a
    refresh racing this transaction) carry the old value and are refused, and every Django
    session's auth hash changes (``User._get_session_auth_hash``).
    """
    user.credentials_version += 1
    live = OutstandingToken.objects.filter(
        user_id=user.pk, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    ).values_list("id", flat=True)
    rows = [BlacklistedToken(token_id=token_id) for token_id in live]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def credential_change_record(
    *, actor: User | None, user: User, fields: list[str], via: str
) -> None:
    """Audit a change of ``fields`` (credential fields) of ``user`` by ``actor`` (None: the
    system, e.g. a management command) and revoke the user's tokens and sessions, in the
    caller's transaction. The caller then saves ``user`` with ``credentials_version``.

    Values of email, role and flags go into the row; a password never does, only that it
    changed.
    """
    loaded = getattr(user, "_credentials_as_loaded", None) or {}
    current = user.credential_fields()
    changes = {
        name: {"before": loaded.get(name), "after": current.get(name)}
        for name in fields
        if name != "password"
    }
    revoked = credentials_revoke(user=user)
    audit_record(
        actor=actor,
        action=CREDENTIALS_CHANGED,
        obj=user,
        changes=changes,
        metadata={"fields": sorted(fields), "via": via, "refresh_revoked": revoked},
    )
    user._credential_change_recorded = True


@transaction.atomic
def user_password_set(*, actor: User, user: User, password: str | None, via: str) -> User:
    """Set (or, with ``password=None``, disable) a password: the user themself (reset link,
    own password change) or a superuser; never another staff member. Audited; every
    token and session of the user is revoked."""
    if actor.pk != user.pk and not actor.is_superuser:
        raise NotAllowed(
            "Only a superuser may set another person's password; send a reset link instead.",
            code="password_set_not_allowed",
        )
    _require_may_change(actor, user)
    if password is None:
        user.set_unusable_password()
    else:
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            raise _invalid_fields({"password": list(exc.messages)}) from exc
        user.set_password(password)
    credential_change_record(actor=actor, user=user, fields=["password"], via=via)
    user.save(update_fields=["password", "credentials_version"])
    return user


@transaction.atomic
def password_reset_link_send(*, actor: User, user: User, base_url: str) -> None:
    """Email ``user`` a one-time link to choose a new password (Django's token: it dies
    once the password changes, and after PASSWORD_RESET_TIMEOUT). Staff offer this instead
    of setting a password; nothing changes until the user uses the link. Sent after
    commit, so no mail leaves for a change that rolled back."""
    _require_staff(actor)
    _require_may_change(actor, user)
    if not user.is_active or not user.email:
        raise InvalidRequest(
            "This account is deactivated or has no email address.", code="reset_not_possible"
        )
    audit_record(
        actor=actor, action=PASSWORD_RESET_LINK_SENT, obj=user, metadata={"to": user.email}
    )
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    context = {"user": user, "link": base_url.rstrip("/") + path}
    subject = "".join(render_to_string("accounts/password_reset_subject.txt", context).split())
    body = render_to_string("accounts/password_reset_email.txt", context)
    recipient = user.email

    def send() -> None:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient])

    transaction.on_commit(send, robust=True)


def refresh_token_lock(refresh: RefreshToken, *, user: User) -> OutstandingToken:
    """Lock the outstanding row of ``refresh`` for the caller's transaction (created if a
    token was issued without one; the unique jti makes two creators agree on one row)."""
    jti = refresh.payload[jwt_settings.JTI_CLAIM]
    OutstandingToken.objects.get_or_create(
        jti=jti,
        defaults={
            "user": user,
            "token": str(refresh),
            "created_at": refresh.current_time,
            "expires_at": datetime_from_epoch(refresh.payload["exp"]),
        },
    )
    return outstanding_token_lock(jti)


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
def user_update(*, actor: User, user: User, data: dict[str, Any], via: str = "admin") -> User:
    """Staff edit an account (the admin change form): role changes keep profiles and admin
    access consistent, and the email stays unique in any letter case.

    Only a superuser changes a superuser, or the email address of another staff member or
    clinician. A change of email, role or an access flag is audited and revokes the
    user's tokens and sessions (``credential_change_record``)."""
    _require_staff(actor)
    unknown = sorted(set(data) - STAFF_EDITABLE_FIELDS)
    if unknown:
        raise _invalid_fields({name: ["This field cannot be changed here."] for name in unknown})
    if "is_superuser" in data and not actor.is_superuser:
        raise NotAllowed("Only a superuser may grant or revoke superuser status.")
    stored = _require_may_change(actor, user)
    data = dict(data)
    email_changes = "email" in data and normalize_email(data["email"]) != stored.email
    if email_changes and _is_protected(actor, stored):
        raise NotAllowed(
            "Only a superuser may change the email address of a staff member or clinician.",
            code="email_change_not_allowed",
        )
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
    update_fields = set(data)
    changed = user.credential_changes(update_fields)
    if changed:
        credential_change_record(actor=actor, user=user, fields=changed, via=via)
        update_fields.add("credentials_version")
    try:
        with transaction.atomic():
            user.save(update_fields=sorted(update_fields))
    except IntegrityError as exc:
        raise _email_taken() from exc
    _ensure_profile(user)
    return user


# --- hospitals ---------------------------------------------------------------------------


def _hospital_values(hospital: Hospital) -> dict[str, str]:
    # Every editable field is text (the country as its code): the audit diff stores it as is.
    return {name: str(getattr(hospital, name)) for name in HOSPITAL_EDITABLE_FIELDS}


@transaction.atomic
def hospital_create(*, actor: User, data: dict[str, Any]) -> Hospital:
    """Staff add a hospital (the admin add form): the model's rules, the code unique,
    audited with its values. The directory import adds hospitals its own way (a job)."""
    _require_staff(actor)
    unknown = sorted(set(data) - set(HOSPITAL_EDITABLE_FIELDS))
    if unknown:
        raise _invalid_fields({name: ["This field cannot be set here."] for name in unknown})
    hospital = Hospital(**data)
    try:
        hospital.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise _invalid_fields(exc.message_dict) from exc
    if Hospital.objects.filter(code=hospital.code).exists():
        raise Conflict("A hospital with this code already exists.", code="hospital_code_taken")
    hospital.save()
    changes = diff(dict.fromkeys(HOSPITAL_EDITABLE_FIELDS, None), _hospital_values(hospital))
    audit_record(actor=actor, action="hospital.create", obj=hospital, changes=changes)
    return hospital


@transaction.atomic
def hospital_delete(*, actor: User, hospital_id: int) -> None:
    """Staff remove a hospital: under its row lock, audited with the values it had. Slots,
    rules and clinician profiles that named it keep their rows without it (SET NULL)."""
    _require_staff(actor)
    try:
        stored = hospital_lock(hospital_id)
    except Hospital.DoesNotExist:
        return  # already gone (two staff deleting at once): nothing to record
    audit_record(
        actor=actor,
        action="hospital.delete",
        obj=stored,
        metadata={"code": stored.code, "name": stored.name},
    )
    stored.delete()


@transaction.atomic
def hospital_update(*, actor: User, hospital: Hospital, data: dict[str, Any]) -> Hospital:
    """Staff edit a hospital (the admin change form): validated by the model's rules (the
    import's too), the code unique, audited with the fields that changed.

    Not durable: the admin runs ``save_model`` inside its own transaction.
    """
    _require_staff(actor)
    unknown = sorted(set(data) - set(HOSPITAL_EDITABLE_FIELDS))
    if unknown:
        raise _invalid_fields({name: ["This field cannot be changed here."] for name in unknown})
    stored = hospital_lock(hospital.pk)
    before = _hospital_values(stored)
    for name, value in data.items():
        setattr(stored, name, value)
    try:
        stored.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise _invalid_fields(exc.message_dict) from exc
    if Hospital.objects.filter(code=stored.code).exclude(pk=stored.pk).exists():
        raise Conflict("A hospital with this code already exists.", code="hospital_code_taken")
    changes = diff(before, _hospital_values(stored))
    if changes:
        stored.save(update_fields=[*changes, "updated_at"])  # the directory sync sees it
        audit_record(actor=actor, action="hospital.update", obj=stored, changes=changes)
    return stored
