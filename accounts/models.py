from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
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

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="uniq_user_email_ci"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

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
