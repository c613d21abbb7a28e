"""factory-boy factories shared by every test module. Demo-like, obviously fake data."""

from __future__ import annotations

from datetime import datetime, timedelta

import factory
from django.utils import timezone

from accounts.models import ClinicianProfile, Hospital, PatientProfile, Role, User
from scheduling.models import Appointment, Slot

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
        "tests.factories.PatientProfileFactory", factory_related_name="user"
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


def _in_days(days: int, hour: int = 10) -> datetime:
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=hour) + timedelta(days=days)


class SlotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Slot

    clinician = factory.SubFactory(DoctorFactory)
    start = factory.Sequence(lambda n: _in_days(3) + timedelta(minutes=30 * n))
    end = factory.LazyAttribute(lambda o: o.start + timedelta(minutes=30))
    status = Slot.Status.OPEN


class AppointmentFactory(factory.django.DjangoModelFactory):
    """Builds the row directly; tests of behaviour book through the services instead."""

    class Meta:
        model = Appointment

    slot = factory.SubFactory(SlotFactory, status=Slot.Status.BOOKED)
    patient = factory.SubFactory(PatientFactory)
    clinician = factory.LazyAttribute(lambda o: o.slot.clinician)
    start = factory.LazyAttribute(lambda o: o.slot.start)
    end = factory.LazyAttribute(lambda o: o.slot.end)
    status = Appointment.Status.SCHEDULED
