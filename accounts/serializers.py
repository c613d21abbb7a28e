"""Input and output shapes of the accounts API.

Outputs are explicit field lists: nothing about a user leaves the API unless it is
named here (never the password hash, never the staff/superuser flags).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import CLINICIAN_ROLES, ClinicianProfile, Hospital, Role, User
from accounts.services import normalize_email


def clinician_profile_of(user: User) -> ClinicianProfile | None:
    # getattr with a default also swallows RelatedObjectDoesNotExist (an AttributeError).
    return getattr(user, "clinician_profile", None)


# --- outputs -------------------------------------------------------------------------


class HospitalOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    address = serializers.CharField()
    city = serializers.CharField()
    region = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    phone = serializers.CharField()


class HospitalSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    city = serializers.CharField()


class ClinicianProfileOutputSerializer(serializers.Serializer):
    specialty = serializers.CharField()
    hospital = HospitalSummarySerializer(allow_null=True)
    license_number = serializers.CharField()
    bio = serializers.CharField()
    min_notice_minutes = serializers.IntegerField(allow_null=True)
    max_horizon_days = serializers.IntegerField(allow_null=True)


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    time_zone = serializers.CharField()
    is_active = serializers.BooleanField()
    date_joined = serializers.DateTimeField()
    clinician_profile = serializers.SerializerMethodField()

    @extend_schema_field(ClinicianProfileOutputSerializer(allow_null=True))
    def get_clinician_profile(self, user: User) -> dict[str, Any] | None:
        profile = clinician_profile_of(user)
        if profile is None:
            return None
        return ClinicianProfileOutputSerializer(profile).data


class ClinicianOutputSerializer(serializers.Serializer):
    """A directory entry: public, professional facts only (no email, no login data)."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(
        source="role", choices=[(r.value, r.label) for r in CLINICIAN_ROLES]
    )
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    full_name = serializers.CharField()
    specialty = serializers.SerializerMethodField()
    bio = serializers.SerializerMethodField()
    hospital = serializers.SerializerMethodField()

    def get_specialty(self, user: User) -> str:
        profile = clinician_profile_of(user)
        return profile.specialty if profile else ""

    def get_bio(self, user: User) -> str:
        profile = clinician_profile_of(user)
        return profile.bio if profile else ""

    @extend_schema_field(HospitalSummarySerializer(allow_null=True))
    def get_hospital(self, user: User) -> dict[str, Any] | None:
        profile = clinician_profile_of(user)
        if profile is None or profile.hospital is None:
            return None
        return HospitalSummarySerializer(profile.hospital).data


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


# --- inputs --------------------------------------------------------------------------


class _NewAccountFields(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=128)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    time_zone = serializers.CharField(max_length=64, required=False, default="UTC")

    def validate_email(self, value: str) -> str:
        return normalize_email(value)


class RegisterInputSerializer(_NewAccountFields):
    # Self-registration makes patients only. A body asking for another role is refused
    # with a 400 rather than silently ignored, so no client believes it made a doctor.
    role = serializers.CharField(
        required=False, help_text='Optional; only "patient" is accepted here.'
    )

    def validate_role(self, value: str) -> str:
        if value != Role.PATIENT:
            raise serializers.ValidationError(
                "Self-registration creates patients only; staff create other accounts."
            )
        return value


class ClinicianProfileInputSerializer(serializers.Serializer):
    specialty = serializers.CharField(max_length=120, required=False, allow_blank=True)
    hospital = serializers.PrimaryKeyRelatedField(
        queryset=Hospital.objects.all(), required=False, allow_null=True
    )
    license_number = serializers.CharField(max_length=64, required=False, allow_blank=True)
    bio = serializers.CharField(required=False, allow_blank=True)
    min_notice_minutes = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    max_horizon_days = serializers.IntegerField(min_value=0, required=False, allow_null=True)


def clinician_profile_for_service(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The validated inline profile as ``user_create`` takes it (a hospital id, not a row)."""
    if data is None:
        return None
    data = dict(data)
    if "hospital" in data:
        hospital = data.pop("hospital")
        data["hospital_id"] = hospital.id if hospital is not None else None
    return data


class UserCreateInputSerializer(_NewAccountFields):
    role = serializers.ChoiceField(choices=Role.choices)
    clinician_profile = ClinicianProfileInputSerializer(required=False, allow_null=True)


class MeUpdateInputSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False)


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()
