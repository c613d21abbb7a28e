"""Every dashboard page renders in a fixed number of queries, with 200 appointments in the week.

Each page is measured twice, with 20 and with 200 appointments in the week: the count must
not grow with the data (no N+1), and it is pinned so that a new query shows up here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consultations.models import Consultation, Prescription
from labs.models import LabResult
from reports.services import Kind, ReportRequest, report_request
from scheduling.models import Appointment, Slot
from tests.dashboard.test_access import prescription_body
from tests.factories import ConsultationFactory, DoctorFactory, PatientFactory, SlotFactory

pytestmark = pytest.mark.django_db

# Monday 8 June 2026, 00:00 in New York (EDT) — the week of the frozen "now".
WEEK_START = datetime(2026, 6, 8, 4, 0, tzinfo=UTC)

# Pinned per page: the session and the user (2 queries), then what the page itself reads.
MAX_QUERIES = {
    # + the day's appointments with patient and consultation, the chart, the waitlist's
    # two counts and its live offers
    "/dashboard/": 7,
    "/dashboard/?day=2026-06-09": 7,
    "/dashboard/week/": 4,  # + free slots, appointments
    "/dashboard/availability/": 3,  # + upcoming slots
    "/dashboard/clients/": 3,  # + clients with their visit counts and dates
    # + visibility check, client, appointments, consultations (+ addenda), prescriptions,
    # lab results, and the audit row of the read (with its transaction's savepoints)
    "client": 14,
    # + consultation with relations, its addenda and prescriptions, and the audit rows of
    # the read (one INSERT each for the consultation, its appointment, its prescriptions)
    "consultation": 8,
    "/dashboard/reports/": 3,  # + recent report jobs
    "report": 3,  # + the job
}


def fill_week(clinician, count: int) -> list[Appointment]:
    """``count`` appointments 45 minutes apart from Monday on, among 20 patients, plus
    an open slot after each; a third completed, every other one with a consultation."""
    patients = [PatientFactory.create() for _ in range(20)]
    slots = Slot.objects.bulk_create(
        Slot(
            clinician=clinician,
            start=WEEK_START + timedelta(minutes=45 * n),
            end=WEEK_START + timedelta(minutes=45 * n + 30),
            status=Slot.Status.BOOKED,
        )
        for n in range(count)
    )
    Slot.objects.bulk_create(
        Slot(clinician=clinician, start=slot.end, end=slot.end + timedelta(minutes=10))
        for slot in slots
    )
    appointments = Appointment.objects.bulk_create(
        Appointment(
            slot=slot,
            patient=patients[n % len(patients)],
            clinician=clinician,
            start=slot.start,
            end=slot.end,
            status="completed" if n % 3 == 0 and slot.start < timezone.now() else "scheduled",
        )
        for n, slot in enumerate(slots)
    )
    Consultation.objects.bulk_create(
        Consultation(appointment=appointment, notes="Notes.") for appointment in appointments[::2]
    )
    return appointments


def client_record(clinician, patient) -> Consultation:
    """A client with a consultation, a prescription, addenda and lab results."""
    consultation = Consultation.objects.filter(appointment__patient=patient).first()
    if consultation is None:
        slot = SlotFactory(clinician=clinician, status="booked")
        consultation = ConsultationFactory.create(
            appointment__slot=slot, appointment__patient=patient
        )
    for n in range(5):
        Prescription.objects.create(
            consultation=consultation, prescriber=clinician, **prescription_body(quantity=n + 1)
        )
        LabResult.objects.create(
            patient=patient,
            ordering_clinician=clinician,
            test_code=f"T{n}",
            test_name=f"Test {n}",
            value_numeric=Decimal(n),
            reference_low=Decimal(1),
            reference_high=Decimal(3),
            flag="low" if n < 1 else "normal",
            status="final",
            collected_at=timezone.now(),
            reported_at=timezone.now(),
        )
    return consultation


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def urls_for(clinician, consultation: Consultation, job_id) -> dict[str, str]:
    patient_id = consultation.appointment.patient_id
    return {
        **{url: url for url in MAX_QUERIES if url.startswith("/")},
        "client": f"/dashboard/clients/{patient_id}/",
        "consultation": f"/dashboard/consultations/{consultation.pk}/",
        "report": f"/dashboard/reports/{job_id}/",
    }


def measure(web, doctor, count: int) -> dict[str, int]:
    appointments = fill_week(doctor, count)
    consultation = client_record(doctor, appointments[0].patient)
    job = report_request(
        user=doctor,
        request=ReportRequest(
            kind=Kind.CASELOAD,
            date_from=datetime(2026, 6, 1).date(),
            date_to=datetime(2026, 6, 10).date(),
            format="csv",
        ),
    )
    client = web(doctor)
    return {
        name: count_queries(client, url)
        for name, url in urls_for(doctor, consultation, job.id).items()
    }


def test_pages_stay_within_their_pinned_query_counts(web, frozen_now):
    # given one doctor with 20 appointments this week and another with 200
    small = measure(web, DoctorFactory(time_zone="America/New_York"), 20)
    large = measure(web, DoctorFactory(time_zone="America/New_York"), 200)

    # then no page needs more queries for more data, and none passes its pinned count
    assert large == small
    over = {name: n for name, n in large.items() if n > MAX_QUERIES[name]}
    assert not over, f"pages over their pinned query counts: {over} (limits {MAX_QUERIES})"


def test_the_week_is_actually_full(web, doctor, frozen_now, django_assert_max_num_queries):
    # given 200 appointments this week
    fill_week(doctor, 200)
    client = web(doctor)

    # when the week page renders
    with django_assert_max_num_queries(MAX_QUERIES["/dashboard/week/"]):
        page = client.get("/dashboard/week/").content.decode()

    # then all 200 appointments and their free slots are on it
    assert page.count('class="chip appt status-') == 200
    assert page.count('<li class="chip open"') == 200
