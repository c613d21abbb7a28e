"""The demo cast: who signs in, and the rule that makes a row demo data.

A demo row belongs to a user whose email is at ``DEMO_DOMAIN`` (a reserved ``.test``
name); every other part of the demo reads and changes only such rows, so ``make run``
on a database with real accounts never touches theirs. Names are obviously fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from django.db.models import QuerySet

from accounts.models import Hospital, Role, User
from accounts.services import patient_register, user_create
from dashboard.demo.log import DemoLog
from scheduling.models import Mode

DEMO_PASSWORD = "carebook-demo-pass"  # noqa: S105  (printed on purpose: demo logins)
DEMO_DOMAIN = "carebook.example.test"
DEMO_TIME_ZONE = "Europe/Berlin"

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
    # weekly hours (local time), slot length and mode of a clinician
    hours: tuple[time, time] = (time(9), time(12))
    slot_minutes: int = 30
    mode: str = Mode.IN_PERSON

    @property
    def email(self) -> str:
        return f"{self.email_local}@{DEMO_DOMAIN}"


STAFF = DemoPerson("admin", "Demo", "Administrator", Role.STAFF)
FRONT_DESK = DemoPerson("frontdesk.fay", "Fay", "Frontdesk-Demo", Role.STAFF)
ADA = DemoPerson("doctor.ada", "Ada", "Example", Role.DOCTOR, "General practice")
BEN = DemoPerson(
    "doctor.ben", "Ben", "Sample", Role.DOCTOR, "Cardiology", hours=(time(13), time(17))
)
CLEO = DemoPerson(
    "psychologist.cleo",
    "Cleo",
    "Placeholder",
    Role.PSYCHOLOGIST,
    "Clinical psychology",
    hours=(time(10), time(15)),
    slot_minutes=50,
    mode=Mode.VIDEO,
)
DEV = DemoPerson(
    "psychologist.dev",
    "Dev",
    "Fictional",
    Role.PSYCHOLOGIST,
    "Child and adolescent psychology",
    hours=(time(14), time(18)),
    slot_minutes=50,
)
CLINICIANS = (ADA, BEN, CLEO, DEV)
PATIENT_NAMES = ("Pat", "Quinn", "Rene", "Sasha", "Toni", "Uli", "Vic", "Wren")
PATIENTS = tuple(
    DemoPerson(f"patient.{name.lower()}", name, "Demo-Patient", Role.PATIENT)
    for name in PATIENT_NAMES
)


def is_demo_email(email: str) -> bool:
    return email.lower().endswith(f"@{DEMO_DOMAIN}")


def demo_users() -> QuerySet[User]:
    return User.objects.filter(email__iendswith=f"@{DEMO_DOMAIN}")


@dataclass(frozen=True)
class Cast:
    admin: User
    front_desk: User
    clinicians: dict[str, User]  # by email_local
    patients: dict[str, User]  # by first name

    def clinician(self, person: DemoPerson) -> User:
        return self.clinicians[person.email_local]


def cast_ensure(log: DemoLog) -> Cast:
    """Every demo account, created when missing (an existing one is left as it is)."""
    admin = _superuser(log)
    hospital = _hospital(log)
    front_desk = _account(log, admin, FRONT_DESK, None)
    clinicians = {p.email_local: _account(log, admin, p, hospital) for p in CLINICIANS}
    patients = {p.first_name: _patient(log, p) for p in PATIENTS}
    return Cast(admin, front_desk, clinicians, patients)


def _existing(person: DemoPerson) -> User | None:
    return User.objects.filter(email__iexact=person.email).first()


def _superuser(log: DemoLog) -> User:
    """Django's bootstrap, as ``createsuperuser`` (no service creates the first admin)."""
    existing = _existing(STAFF)
    if existing is not None:
        return existing
    log.created(f"staff superuser {STAFF.email}")
    return User.objects.create_superuser(
        STAFF.email,
        DEMO_PASSWORD,
        first_name=STAFF.first_name,
        last_name=STAFF.last_name,
        time_zone=DEMO_TIME_ZONE,
    )


def _hospital(log: DemoLog) -> Hospital:
    """The demo's one hospital row, written directly (hospitals otherwise come from the
    CSV import, which ``jobs`` also runs for two more)."""
    hospital, created = Hospital.objects.get_or_create(code=HOSPITAL["code"], defaults=HOSPITAL)
    if created:
        log.created(f"hospital {hospital}")
    return hospital


def _account(log: DemoLog, admin: User, person: DemoPerson, hospital: Hospital | None) -> User:
    existing = _existing(person)
    if existing is not None:
        return existing
    log.created(f"{person.role} {person.email}")
    profile = None
    if hospital is not None:
        profile = {"specialty": person.specialty, "hospital_id": hospital.pk}
    return user_create(
        actor=admin,
        email=person.email,
        password=DEMO_PASSWORD,
        role=person.role,
        first_name=person.first_name,
        last_name=person.last_name,
        time_zone=DEMO_TIME_ZONE,
        clinician_profile=profile,
    )


def _patient(log: DemoLog, person: DemoPerson) -> User:
    existing = _existing(person)
    if existing is not None:
        return existing
    log.created(f"patient {person.email}")
    return patient_register(
        email=person.email,
        password=DEMO_PASSWORD,
        first_name=person.first_name,
        last_name=person.last_name,
        time_zone=DEMO_TIME_ZONE,
    )
