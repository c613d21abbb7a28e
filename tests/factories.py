"""The one place tests import factories from.

Each app's factories live in its own test package (``tests/<app>/factories.py``, next to
that app's tests, importing only the factories of the apps below it); this module gathers
them so a test that builds records of several apps has one import line. Add a factory to
its app's module and name it here. The shared clinical world is ``tests.clinical_world``.
"""

from tests.accounts.factories import (
    PASSWORD,
    ClinicianProfileFactory,
    DoctorFactory,
    HospitalFactory,
    PatientFactory,
    PatientProfileFactory,
    PsychologistFactory,
    StaffFactory,
    UserFactory,
)
from tests.consultations.factories import (
    AddendumFactory,
    ConsultationFactory,
    PrescriptionFactory,
    completed_consultation,
    in_progress_consultation,
    scheduled_consultation,
)
from tests.labs.factories import LabResultFactory
from tests.notifications.factories import WebhookEndpointFactory
from tests.scheduling.factories import AppointmentFactory, SlotFactory, appointment_for

__all__ = [
    "PASSWORD",
    "AddendumFactory",
    "AppointmentFactory",
    "ClinicianProfileFactory",
    "ConsultationFactory",
    "DoctorFactory",
    "HospitalFactory",
    "LabResultFactory",
    "PatientFactory",
    "PatientProfileFactory",
    "PrescriptionFactory",
    "PsychologistFactory",
    "SlotFactory",
    "StaffFactory",
    "UserFactory",
    "WebhookEndpointFactory",
    "appointment_for",
    "completed_consultation",
    "in_progress_consultation",
    "scheduled_consultation",
]
