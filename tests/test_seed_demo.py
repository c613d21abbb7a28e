"""The demo clinic that ``make run`` loads (``seed_demo``, dashboard.demo): built around
the moment it runs, through the services, idempotent, and refreshed into the present on a
later day without touching anything that is not demo data.

The command runs the hospital import, whose service keeps its own durable transactions:
these tests commit for real (``transaction=True``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from io import StringIO
from time import monotonic
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Model
from django.utils import timezone

from accounts.models import ClinicianProfile, Hospital, Role, User
from audit.models import AuditEvent
from consultations.models import Consultation, ConsultationAddendum, Prescription
from consultations.pdf import prescription_pdf
from core.models import Job
from dashboard.demo.clock import clock_at
from dashboard.demo.people import (
    CLEO,
    CLINICIANS,
    DEMO_DOMAIN,
    DEMO_PASSWORD,
    DEMO_TIME_ZONE,
    demo_users,
)
from dashboard.selectors import sessions_per_week
from labs.models import LabResult
from notifications.models import Notification
from scheduling.models import Appointment, AppointmentSeries, AvailabilityRule, Slot
from tests.factories import DoctorFactory, PatientFactory, appointment_for
from waitlist.models import WaitlistEntry, WaitlistOffer

pytestmark = pytest.mark.django_db(transaction=True)

Status = Appointment.Status


@pytest.fixture(autouse=True)
def _late_morning_in_the_clinics_zone() -> Iterator[None]:
    """The demo's today has a visit completed earlier and one in progress at any hour but
    the first few after the clinic's midnight (then they fall on the day before): these
    tests run at 11:00 in the demo's zone, today, with the clock ticking."""
    zone = ZoneInfo(DEMO_TIME_ZONE)
    today = timezone.now().astimezone(zone).date()
    with time_machine.travel(datetime.combine(today, time(11), tzinfo=zone), tick=True):
        yield


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


SEEDED_MODELS: list[type[Model]] = [
    User, Hospital, ClinicianProfile, AvailabilityRule, Slot, Appointment, AppointmentSeries,
    Consultation, ConsultationAddendum, Prescription, LabResult, Notification, Job,
    WaitlistEntry, WaitlistOffer,
]  # fmt: skip


def snapshot() -> dict[str, list[dict]]:
    return {
        model.__name__: list(model._default_manager.order_by("pk").values())
        for model in SEEDED_MODELS
    }


def user(email_local: str) -> User:
    return User.objects.get(email=f"{email_local}@{DEMO_DOMAIN}")


def local_day_bounds(person: User, now: datetime) -> tuple[datetime, datetime]:
    zone = person.tzinfo
    day = now.astimezone(zone).date()
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def assert_consistent(now: datetime) -> None:
    """No past visit still booked, no pair twice on one day, seats that match."""
    stale = Appointment.objects.filter(status__in=Appointment.ACTIVE_STATUSES, end__lte=now)
    assert not stale.exists(), list(stale.values("pk", "start", "status"))
    per_day = Counter(
        (a.clinician_id, a.patient_id, a.start.astimezone(a.clinician.tzinfo).date())
        for a in Appointment.objects.select_related("clinician")
    )
    assert max(per_day.values()) == 1, [k for k, n in per_day.items() if n > 1]
    for slot in Slot.objects.filter(capacity__gt=1):
        live = slot.appointments.exclude(status=Status.CANCELLED).count()
        assert slot.seats_taken == live


def assert_today_around_now(now: datetime) -> None:
    """In the psychologist's own zone: visits before and after now, one completed with
    notes, one in progress; every clinician has something today."""
    cleo = user(CLEO.email_local)
    start, end = local_day_bounds(cleo, now)
    today = Appointment.objects.filter(clinician=cleo, start__gte=start, start__lt=end)
    assert today.count() >= 2
    completed = today.filter(status=Status.COMPLETED, end__lte=now)
    assert completed.exists()
    assert all(Consultation.objects.get(appointment=a).notes for a in completed)
    in_progress = Consultation.objects.filter(
        appointment__clinician=cleo,
        appointment__status__in=Appointment.ACTIVE_STATUSES,
        started_at__isnull=False,
        appointment__start__lte=now,
        appointment__end__gt=now,
    )
    assert in_progress.count() == 1
    upcoming = Appointment.objects.filter(
        clinician=cleo, start__gt=now, status__in=Appointment.ACTIVE_STATUSES
    )
    assert upcoming.exists()


def assert_eight_weeks_of_history(now: datetime) -> None:
    for person in CLINICIANS:
        clinician = user(person.email_local)
        chart = sessions_per_week(
            clinician=clinician, today=now.astimezone(clinician.tzinfo).date()
        )
        assert len(chart) == 8
        assert all(point["sessions"] > 0 for point in chart), (person.email, chart)


def test_seed_builds_a_clinic_that_lives_in_the_present():
    # when the demo is loaded into an empty database
    started = monotonic()
    output = seed()
    elapsed = monotonic() - started
    now = timezone.now()

    # then it was quick enough for `make run`
    assert elapsed < 20, elapsed
    # and people of every role exist, all at the reserved demo domain, with fake names
    roles = Counter(User.objects.values_list("role", flat=True))
    assert roles[Role.DOCTOR] == 2
    assert roles[Role.PSYCHOLOGIST] == 2
    assert roles[Role.PATIENT] >= 6
    assert roles[Role.STAFF] == 2
    assert User.objects.filter(is_superuser=True).count() == 1
    assert User.objects.filter(role=Role.STAFF, is_staff=True, is_superuser=False).count() == 1
    assert demo_users().count() == User.objects.count()
    assert all(u.email.endswith(".test") for u in User.objects.all())
    for person in User.objects.all():
        assert person.email in output
        assert person.check_password(DEMO_PASSWORD)

    # today, the last eight weeks, and what is ahead
    assert_today_around_now(now)
    assert_eight_weeks_of_history(now)
    assert_consistent(now)
    statuses = Counter(Appointment.objects.filter(start__lt=now).values_list("status", flat=True))
    assert statuses[Status.CANCELLED] >= 1
    assert statuses[Status.NO_SHOW] >= 1
    assert statuses[Status.COMPLETED] >= 4 * 8 * 2


def test_seed_writes_clinical_records_through_the_services():
    seed()
    now = timezone.now()

    # completed consultations have notes; some have addenda
    completed = Consultation.objects.filter(appointment__status=Status.COMPLETED)
    assert completed.exclude(notes="").count() == completed.count()
    assert ConsultationAddendum.objects.filter(consultation__in=completed).exists()
    # prescriptions by doctors on their completed visits, each rendering its PDF
    prescriptions = Prescription.objects.select_related("consultation__appointment__patient")
    assert prescriptions.count() >= 4
    for prescription in prescriptions:
        assert prescription.prescriber.role == Role.DOCTOR
        assert prescription_pdf(prescription).startswith(b"%PDF")
    # lab results: normal, high, and a critical one whose notification reached its clinician
    flags = Counter(LabResult.objects.values_list("flag", flat=True))
    assert flags["normal"] >= 1
    assert flags["high"] >= 1
    assert flags["critical"] == 1
    critical = LabResult.objects.get(flag="critical")
    assert Notification.objects.filter(
        recipient=critical.ordering_clinician, kind="lab_result_critical"
    ).exists()
    # every booking has its audit row, written now (the trail is never backdated), while
    # the records themselves are dated in the story
    bookings = AuditEvent.objects.filter(action="appointment.book")
    assert bookings.count() == Appointment.objects.count()
    assert not bookings.filter(occurred_at__lt=now - timedelta(minutes=5)).exists()
    assert Appointment.objects.filter(created_at__lt=now - timedelta(weeks=7)).exists()
    # ahead: weekly rules, a group session with seats taken, a weekly series
    assert AvailabilityRule.objects.filter(valid_until__gte=now.date() + timedelta(weeks=3))
    group = Slot.objects.get(capacity__gt=1, start__gt=now)
    assert 2 <= group.seats_taken < group.capacity
    series = AppointmentSeries.objects.get(status=AppointmentSeries.Status.ACTIVE)
    assert series.appointments.filter(start__gt=now).count() >= 4
    assert Slot.objects.filter(status=Slot.Status.OPEN, start__gt=now).count() > 50
    # the jobs list: a finished hospital import and a finished report
    assert Job.objects.get(kind="hospital_import").status == "succeeded"
    assert Job.objects.get(kind="report").status == "succeeded"
    assert Hospital.objects.filter(code__startswith="DEMO-").count() == 3


def assert_waitlist_with_a_live_offer(now: datetime) -> None:
    """Patients wait for a day ahead; one holds a live offer of a freed session."""
    waiting = WaitlistEntry.objects.filter(status=WaitlistEntry.Status.ACTIVE)
    assert waiting.count() == 2
    assert all(e.not_before is not None and e.not_before > now.date() for e in waiting)
    live = WaitlistOffer.objects.select_related("slot").get(
        status=WaitlistOffer.Status.OFFERED, expires_at__gt=now
    )
    assert live.entry in waiting
    assert live.slot.held_for_id == live.patient_id
    assert live.slot.held_until == live.expires_at


def test_the_waitlist_has_a_live_offer_made_by_a_cancellation():
    seed()
    now = timezone.now()

    assert_waitlist_with_a_live_offer(now)
    offer = WaitlistOffer.objects.get()
    # the session was freed by a patient's cancellation, in the same transaction
    freed = Appointment.objects.get(slot=offer.slot, status=Status.CANCELLED)
    assert freed.cancelled_by_id == freed.patient_id
    assert AuditEvent.objects.filter(action="waitlist.offer").count() == 1


def test_running_it_twice_changes_nothing():
    seed()
    before = snapshot()

    output = seed()

    assert snapshot() == before
    assert "nothing changed" in output


def test_a_day_later_the_demo_moves_into_the_present():
    # given the demo was loaded yesterday (and a clinic's own rows exist beside it)
    with time_machine.travel(timezone.now() - timedelta(days=1), tick=True):
        seed()
    doctor, patient = DoctorFactory(), PatientFactory()
    theirs = appointment_for(doctor, patient, hours=-30)
    assert theirs.status == Status.SCHEDULED

    # when it runs today
    seed()
    now = timezone.now()

    # then yesterday's visits have their outcomes, today has its own, nothing twice
    assert_today_around_now(now)
    assert_eight_weeks_of_history(now)
    stale_demo = Appointment.objects.filter(
        status__in=Appointment.ACTIVE_STATUSES, end__lte=now, patient__in=demo_users()
    )
    assert not stale_demo.exists()
    assert_waitlist_with_a_live_offer(now)
    # and the clinic's own appointment is exactly as it was
    theirs.refresh_from_db()
    assert theirs.status == Status.SCHEDULED
    theirs.delete()
    theirs.slot.delete()
    assert_consistent(now)

    # and a second run that day changes nothing
    before = snapshot()
    assert "nothing changed" in seed()
    assert snapshot() == before


def test_an_old_demo_database_is_refreshed():
    # given a demo loaded ten days ago and never run since
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=True):
        seed()

    seed()
    now = timezone.now()

    assert_today_around_now(now)
    assert_eight_weeks_of_history(now)
    assert_consistent(now)
    assert_waitlist_with_a_live_offer(now)
    assert Slot.objects.filter(status=Slot.Status.OPEN, start__gt=now + timedelta(weeks=3))


def test_refuses_to_run_in_production(settings):
    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        seed()
    assert not User.objects.exists()


def test_the_demo_clock_answers_inside_its_block_and_never_after():
    real = timezone.now
    moment = timezone.now() - timedelta(weeks=6)
    with clock_at(moment):
        assert timezone.now() == moment
    assert timezone.now is real
    with pytest.raises(RuntimeError), clock_at(moment):
        raise RuntimeError("a refusal inside the block")
    assert timezone.now is real
    with pytest.raises(ValueError, match="aware"), clock_at(datetime(2026, 1, 1)):
        pass


def test_the_demos_audit_trail_is_sealed_and_verified():
    # when the demo is loaded
    seed()

    # then every audit row it wrote is sealed and the chain's checkpoint says intact, so
    # the overview shows the chain checked on a first start (before beat's first run)
    from audit.models import AuditChainCheckpoint

    assert AuditEvent.objects.exists()
    assert not AuditEvent.objects.filter(seal__isnull=True).exists()
    checkpoint = AuditChainCheckpoint.objects.get(pk=AuditChainCheckpoint.SINGLETON_PK)
    assert checkpoint.ok
    assert checkpoint.verified_count > 0
    assert checkpoint.checked_at is not None
