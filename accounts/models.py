from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Lower, Upper
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_countries.fields import CountryField


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone.", code="invalid_time_zone")


postal_code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9 -]{1,10}[A-Za-z0-9]$",
    "Enter a postal code of 3-12 letters, digits, spaces or hyphens.",
    code="invalid_postal_code",
)
phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ().-]{5,22}[0-9]$",
    "Enter a phone number of digits with optional +, spaces, dots, hyphens or brackets.",
    code="invalid_phone",
)
hospital_code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$",
    "Use 1-32 letters, digits, dots, hyphens or underscores.",
    code="invalid_code",
)


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    DOCTOR = "doctor", "Doctor"
    PSYCHOLOGIST = "psychologist", "Psychologist"
    STAFF = "staff", "Staff"


CLINICIAN_ROLES = (Role.DOCTOR, Role.PSYCHOLOGIST)
# Changing any of these audits the change and revokes the user's tokens and sessions.
CREDENTIAL_FIELDS = frozenset(
    {"password", "email", "role", "is_active", "is_staff", "is_superuser"}
)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("role", Role.PATIENT)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(role=Role.STAFF, is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address; ``role`` decides what they may do."""

    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PATIENT)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    # Raised by every credential change (accounts.services.credentials_revoke): JWTs carry
    # the value they were issued under and session hashes include it, so older ones stop
    # working on their next use, in every process.
    credentials_version = models.PositiveIntegerField(default=0, editable=False)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="uniq_user_email_ci"),
        ]
        # The admin's people search (``icontains``: UPPER(column) LIKE '%term%') through
        # trigram indexes instead of reading every user (PostgreSQL; migration 0003).
        indexes = [
            *(
                GinIndex(OpClass(Upper(name), name="gin_trgm_ops"), name=f"user_{name}_trgm")
                for name in ("email", "first_name", "last_name")
            ),
            # GET clinicians/ (active clinicians by name) and the admin's date hierarchy.
            models.Index(
                fields=["last_name", "first_name", "id"],
                condition=Q(role__in=["doctor", "psychologist"], is_active=True),
                name="user_active_clinician_name_idx",
            ),
            models.Index(fields=["date_joined"], name="user_date_joined_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> User:
        user = super().from_db(db, field_names, values)
        user._credentials_as_loaded = user.credential_fields()
        return user

    def credential_fields(self) -> dict[str, Any]:
        """What decides who may sign in as this user and with which powers."""
        # From __dict__: a field deferred by .only() is not loaded, and is not compared.
        return {name: self.__dict__[name] for name in CREDENTIAL_FIELDS if name in self.__dict__}

    def credential_changes(self, update_fields: Any = None) -> list[str]:
        """The credential fields this save would change, by name (sorted); [] for a new row.

        A password counts when it was set (``set_password``, ``_password`` holds it until
        the save) or made unusable; a login that upgrades the hash of the same password
        (``check_password``'s rehash) does not.
        """
        loaded = getattr(self, "_credentials_as_loaded", None)
        if loaded is None or self._state.adding:
            return []
        saved = CREDENTIAL_FIELDS if update_fields is None else set(update_fields)
        changed = [
            name
            for name, value in self.credential_fields().items()
            if name != "password" and name in saved and name in loaded and loaded[name] != value
        ]
        # A row saved with no password at all ("": create() without one, as factories do)
        # getting its first one is still its creation: nobody could have signed in.
        password_changed = (
            "password" in saved and loaded.get("password") and self.password != loaded["password"]
        )
        set_now = getattr(self, "_password", None) is not None  # set_password, until saved
        if password_changed and (set_now or not self.has_usable_password()):
            changed.append("password")
        return sorted(changed)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A credential change that no service recorded (a shell, ``changepassword``, a
        third-party app) is recorded and revoked here, by the same service, as the system."""
        changed = self.credential_changes(kwargs.get("update_fields"))
        if changed and not getattr(self, "_credential_change_recorded", False):
            from accounts.middleware import current_request_user
            from accounts.services import credential_change_record  # services import models

            actor = current_request_user()
            with transaction.atomic():
                credential_change_record(actor=actor, user=self, fields=changed, via="save")
                update_fields = kwargs.get("update_fields")
                if update_fields is not None:
                    kwargs["update_fields"] = {*update_fields, "credentials_version"}
                super().save(*args, **kwargs)
        else:
            super().save(*args, **kwargs)
        self._credential_change_recorded = False
        self._credentials_as_loaded = self.credential_fields()

    def refresh_from_db(
        self, using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        if fields is None:  # every field is as stored again
            self._credentials_as_loaded = self.credential_fields()

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's hash covers the password only; a revocation (credentials_version) must
        # end sessions too. Version 0 keeps Django's value, so no session ends on upgrade.
        base: str = super()._get_session_auth_hash(secret=secret)  # type: ignore[misc]
        if not self.credentials_version:
            return base
        return salted_hmac(
            "carebook.accounts.User.credentials_version",
            f"{base}:{self.credentials_version}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_clinician(self) -> bool:
        return self.role in CLINICIAN_ROLES

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_staff_member(self) -> bool:
        return self.role == Role.STAFF

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Hospital(models.Model):
    """A workplace of clinicians; ``code`` is the stable key of the bulk import."""

    # What a hospital's directory entry says: what staff edit and what an import carries.
    DIRECTORY_FIELDS = (
        "code",
        "name",
        "address",
        "city",
        "region",
        "postal_code",
        "country",
        "phone",
    )

    code = models.CharField(max_length=32, unique=True, validators=[hospital_code_validator])
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=12, blank=True, validators=[postal_code_validator])
    country = CountryField(blank=True)
    phone = models.CharField(max_length=24, blank=True, validators=[phone_validator])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PatientProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="patient_profile")
    date_of_birth = models.DateField(null=True, blank=True)
    phone = models.CharField(max_length=24, blank=True, validators=[phone_validator])

    def __str__(self) -> str:
        return f"Patient profile of {self.user}"


class ClinicianProfile(models.Model):
    """Directory data of a doctor or psychologist, with optional booking-policy overrides."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="clinician_profile")
    specialty = models.CharField(max_length=120, blank=True)
    hospital = models.ForeignKey(
        Hospital, null=True, blank=True, on_delete=models.SET_NULL, related_name="clinicians"
    )
    license_number = models.CharField(max_length=64, blank=True)
    bio = models.TextField(blank=True)
    min_notice_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides SCHEDULING_MIN_NOTICE_MINUTES."
    )
    max_horizon_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides SCHEDULING_MAX_HORIZON_DAYS."
    )

    def __str__(self) -> str:
        return f"Clinician profile of {self.user}"
