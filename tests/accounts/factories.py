"""Factories of the accounts app: hospitals, users of every role and their profiles."""

from __future__ import annotations

import factory

from accounts.models import ClinicianProfile, Hospital, PatientProfile, Role, User

PASSWORD = "correct-horse-battery-staple"


class HospitalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Hospital

    code = factory.Sequence(lambda n: f"HOSP-{n:05d}")
    name = factory.Sequence(lambda n: f"Example Clinic {n}")
    address = "1 Example Street"
    city = "Exampleton"
    region = "Example Region"
    postal_code = "EX1 2MP"
    country = "GB"
    phone = "+44 20 7946 0000"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    first_name = factory.Sequence(lambda n: f"Test{n}")
    last_name = "Person"
    role = Role.PATIENT
    time_zone = "UTC"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class PatientFactory(UserFactory):
    role = Role.PATIENT
    profile = factory.RelatedFactory(
        "tests.accounts.factories.PatientProfileFactory", factory_related_name="user"
    )


class PatientProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientProfile

    user = factory.SubFactory(UserFactory)


class ClinicianProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicianProfile

    user = factory.SubFactory(UserFactory, role=Role.DOCTOR)
    specialty = "General practice"
    hospital = factory.SubFactory(HospitalFactory)


class DoctorFactory(UserFactory):
    role = Role.DOCTOR
    profile = factory.RelatedFactory(ClinicianProfileFactory, factory_related_name="user")


class PsychologistFactory(UserFactory):
    role = Role.PSYCHOLOGIST
    profile = factory.RelatedFactory(
        ClinicianProfileFactory, factory_related_name="user", specialty="Clinical psychology"
    )


class StaffFactory(UserFactory):
    role = Role.STAFF
    is_staff = True
