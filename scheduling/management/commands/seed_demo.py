"""Demo data for ``make run``: a clinic, four clinicians, patients, availability, bookings.

Idempotent: each person, rule and booking is created only when it is missing, so a
second run changes nothing. Everything goes through the services (the same rules as
the API), except the first superuser (Django's bootstrap, as ``createsuperuser``) and
the hospital (hospitals are created by the CSV import, which wants a file; the demo
writes its one row directly).
All names and addresses are obviously fake; emails use the reserved ``.test`` domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import Hospital, Role, User
from accounts.services import patient_register, user_create
from scheduling.models import Appointment, AvailabilityRule, Mode, Slot
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    booking_policy_for,
    rule_create,
)

DEMO_PASSWORD = "carebook-demo-pass"  # noqa: S105  (printed on purpose: demo logins)
DEMO_DOMAIN = "carebook.example.test"
DEMO_TIME_ZONE = "Europe/Berlin"
AVAILABILITY_DAYS = 14
WEEKDAYS = range(5)  # Monday to Friday

HOSPITAL = {
    "code": "DEMO-CLINIC",
    "name": "Carebook Demo Clinic",
    "address": "1 Example Street",
    "city": "Exampleton",
    "region": "Demo Region",
    "postal_code": "10115",
    "country": "DE",
    "phone": "+49 30 0000 0000",
}


@dataclass(frozen=True)
class DemoPerson:
    email_local: str
    first_name: str
    last_name: str
    role: str
    specialty: str = ""
    # weekly hours (local time) and slot length of a clinician
    hours: tuple[time, time] = (time(9), time(12))
    slot_minutes: int = 30
    mode: str = Mode.IN_PERSON

    @property
    def email(self) -> str:
        return f"{self.email_local}@{DEMO_DOMAIN}"


STAFF = DemoPerson("admin", "Demo", "Administrator", Role.STAFF)
CLINICIANS = [
    DemoPerson("doctor.ada", "Ada", "Example", Role.DOCTOR, "General practice"),
    DemoPerson(
        "doctor.ben", "Ben", "Sample", Role.DOCTOR, "Cardiology", hours=(time(13), time(17))
    ),
    DemoPerson(
        "psychologist.cleo",
        "Cleo",
        "Placeholder",
        Role.PSYCHOLOGIST,
        "Clinical psychology",
        hours=(time(10), time(15)),
        slot_minutes=50,
        mode=Mode.VIDEO,
    ),
    DemoPerson(
        "psychologist.dev",
        "Dev",
        "Fictional",
        Role.PSYCHOLOGIST,
        "Child and adolescent psychology",
        hours=(time(14), time(18)),
        slot_minutes=50,
    ),
]
PATIENTS = [
    DemoPerson(f"patient.{name.lower()}", name, "Demo-Patient", Role.PATIENT)
    for name in ("Pat", "Quinn", "Rene", "Sasha", "Toni", "Uli")
]
# (patient index, clinician index, what happens after booking)
BOOKINGS = [(0, 0, "confirm"), (1, 2, "keep"), (2, 1, "keep"), (3, 3, "cancel"), (4, 0, "keep")]


class Command(BaseCommand):
    help = "Load obviously fake demo data (idempotent) and print the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load demo accounts with a published password even when DJANGO_ENV=production.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION and not options["allow_production"]:
            raise CommandError(
                "Refusing to create demo accounts with a published password in production."
            )
        self.changes = 0
        admin = self._staff_superuser()
        hospital = self._hospital()
        clinicians = [self._clinician(admin, person, hospital) for person in CLINICIANS]
        patients = [self._patient(person) for person in PATIENTS]
        for clinician, person in zip(clinicians, CLINICIANS, strict=True):
            self._weekly_rules(clinician, person)
        if not Appointment.objects.filter(patient__in=patients).exists():
            for patient_index, clinician_index, then in BOOKINGS:
                self._booking(patients[patient_index], clinicians[clinician_index], then)
        self._print_logins()

    # --- people ---------------------------------------------------------------------

    def _created(self, what: str) -> None:
        self.changes += 1
        self.stdout.write(f"  created {what}")

    def _staff_superuser(self) -> User:
        existing = User.objects.filter(email=STAFF.email).first()
        if existing is not None:
            return existing
        self._created(f"staff superuser {STAFF.email}")
        return User.objects.create_superuser(
            STAFF.email, DEMO_PASSWORD, first_name=STAFF.first_name, last_name=STAFF.last_name
        )

    def _hospital(self) -> Hospital:
        hospital, created = Hospital.objects.get_or_create(code=HOSPITAL["code"], defaults=HOSPITAL)
        if created:
            self._created(f"hospital {hospital}")
        return hospital

    def _clinician(self, admin: User, person: DemoPerson, hospital: Hospital) -> User:
        existing = User.objects.filter(email=person.email).first()
        if existing is not None:
            return existing
        self._created(f"{person.role} {person.email}")
        return user_create(
            actor=admin,
            email=person.email,
            password=DEMO_PASSWORD,
            role=person.role,
            first_name=person.first_name,
            last_name=person.last_name,
            time_zone=DEMO_TIME_ZONE,
            clinician_profile={"specialty": person.specialty, "hospital_id": hospital.pk},
        )

    def _patient(self, person: DemoPerson) -> User:
        existing = User.objects.filter(email=person.email).first()
        if existing is not None:
            return existing
        self._created(f"patient {person.email}")
        return patient_register(
            email=person.email,
            password=DEMO_PASSWORD,
            first_name=person.first_name,
            last_name=person.last_name,
            time_zone=DEMO_TIME_ZONE,
        )

    # --- availability and bookings --------------------------------------------------

    def _weekly_rules(self, clinician: User, person: DemoPerson) -> None:
        if AvailabilityRule.objects.filter(clinician=clinician).exists():
            return
        today = timezone.now().astimezone(clinician.tzinfo).date()
        valid_until = today + timedelta(days=AVAILABILITY_DAYS - 1)
        slots = 0
        for weekday in WEEKDAYS:
            _, expansion = rule_create(
                clinician=clinician,
                weekday=weekday,
                start_time=person.hours[0],
                end_time=person.hours[1],
                valid_from=today,
                valid_until=valid_until,
                slot_minutes=person.slot_minutes,
                mode=person.mode,
            )
            slots += len(expansion.created)
        self._created(f"{len(WEEKDAYS)} weekly rules ({slots} slots) for {person.email}")

    def _first_bookable_slot(self, clinician: User, patient: User) -> Slot | None:
        """The earliest open slot the policy allows, on a day the patient has nothing else."""
        policy = booking_policy_for(clinician.pk)
        now = timezone.now()
        busy_days: set[date] = {
            start.date()
            for start in Appointment.objects.filter(patient=patient).values_list("start", flat=True)
        }
        candidates = Slot.objects.filter(
            clinician=clinician,
            status=Slot.Status.OPEN,
            start__gte=now + policy.min_notice + timedelta(days=1),
            start__lte=now + policy.max_horizon,
        ).order_by("start")
        return next((slot for slot in candidates if slot.start.date() not in busy_days), None)

    def _booking(self, patient: User, clinician: User, then: str) -> None:
        slot = self._first_bookable_slot(clinician, patient)
        if slot is None:
            self.stdout.write(f"  no bookable slot for {patient.email} with {clinician.email}")
            return
        appointment = appointment_book(
            patient=patient, slot_id=slot.pk, reason="Demo appointment (fake data)"
        )
        if then == "confirm":
            appointment_confirm(actor=clinician, appointment_id=appointment.pk)
        elif then == "cancel":
            # As the clinician: patients are held to a cut-off that settings may widen.
            appointment_cancel(
                actor=clinician, appointment_id=appointment.pk, reason="Demo cancellation"
            )
        self._created(
            f"appointment {patient.email} with {clinician.email} at "
            f"{slot.start.astimezone(clinician.tzinfo):%a %d %b %H:%M %Z} ({then})"
        )

    def _print_logins(self) -> None:
        if self.changes == 0:
            self.stdout.write("Demo data already present; nothing changed.")
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for person in [STAFF, *CLINICIANS, *PATIENTS]:
            self.stdout.write(f"  {person.role:<13} {person.email}")
        self.stdout.write(f"  ({STAFF.email} is a superuser: /admin/)")
