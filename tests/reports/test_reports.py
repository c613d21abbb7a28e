"""Reports: request (API), build (the worker's service), and the file matches the database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import TestCase
from pypdf import PdfReader

from core.models import Job, OutboxEvent
from core.outbox import outbox_event_deliver
from reports.services import report_build
from scheduling.models import Appointment
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/"
Status = Appointment.Status


def appointment(clinician, patient, start, status):
    slot = SlotFactory(clinician=clinician, start=start, end=start + timedelta(minutes=30))
    return AppointmentFactory(slot=slot, patient=patient, status=status)


@pytest.fixture
def seeded_month():
    """March 2026 for two clinicians and three patients, plus appointments just outside it."""
    doctor = DoctorFactory(first_name="Dana", last_name="Doctor")
    psych = PsychologistFactory(first_name="Pat", last_name="Psych")
    ann = PatientFactory(first_name="Ann", last_name="Able")
    bob = PatientFactory(first_name="Bob", last_name="Baker")
    cat = PatientFactory(first_name="Cat", last_name="Cole")
    day = datetime(2026, 3, 2, 9, tzinfo=UTC)
    plan = [
        (doctor, ann, 0, Status.COMPLETED),
        (doctor, ann, 1, Status.COMPLETED),
        (doctor, ann, 2, Status.NO_SHOW),
        (doctor, bob, 3, Status.CANCELLED),
        (doctor, bob, 4, Status.COMPLETED),
        (doctor, bob, 28, Status.SCHEDULED),
        (psych, cat, 5, Status.COMPLETED),
        (psych, ann, 6, Status.NO_SHOW),
    ]
    for clinician, patient, offset, status in plan:
        appointment(clinician, patient, day + timedelta(days=offset), status)
    # outside March: must not be counted
    appointment(doctor, cat, datetime(2026, 2, 28, 23, tzinfo=UTC), Status.COMPLETED)
    appointment(doctor, cat, datetime(2026, 4, 1, 0, tzinfo=UTC), Status.COMPLETED)
    return {"doctor": doctor, "psych": psych, "ann": ann, "bob": bob, "cat": cat}


def request_report(client, kind, fmt="csv", key=None, body=None, **fields):
    payload = {"kind": kind, "from": "2026-03-01", "to": "2026-03-31", "format": fmt, **fields}
    payload.update(body or {})
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(URL, payload, format="json", **headers)


def build(response) -> Job:
    assert response.status_code == 202, response.json()
    return report_build(job_id=response.json()["job_id"])


def download(client, job: Job) -> bytes:
    response = client.get(f"/api/v1/jobs/{job.id}/download/")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


class TestCaseload:
    def test_csv_matches_the_database_row_by_row(self, client_for, seeded_month):
        doctor, ann, bob = seeded_month["doctor"], seeded_month["ann"], seeded_month["bob"]
        client = client_for(doctor)

        job = build(request_report(client, "caseload"))

        assert job.status == Job.Status.SUCCEEDED
        assert job.result["rows"] == 2
        rows = csv_rows(download(client, job))
        assert rows == [
            [
                "patient_id",
                "patient_name",
                "patient_email",
                "appointments",
                "sessions",
                "no_shows",
                "cancellations",
                "upcoming",
            ],
            [str(ann.pk), "Ann Able", ann.email, "3", "2", "1", "0", "0"],
            [str(bob.pk), "Bob Baker", bob.email, "3", "1", "0", "1", "1"],
        ]
        # and every figure agrees with a direct count in the database
        for row in rows[1:]:
            mine = Appointment.objects.filter(
                clinician=doctor,
                patient_id=int(row[0]),
                start__gte=datetime(2026, 3, 1, tzinfo=UTC),
                start__lt=datetime(2026, 4, 1, tzinfo=UTC),
            )
            assert int(row[3]) == mine.count()
            assert int(row[4]) == mine.filter(status=Status.COMPLETED).count()
            assert int(row[5]) == mine.filter(status=Status.NO_SHOW).count()
            assert int(row[6]) == mine.filter(status=Status.CANCELLED).count()

    def test_pdf_renders_and_reads_back(self, client_for, seeded_month):
        client = client_for(seeded_month["psych"])

        job = build(request_report(client, "caseload", fmt="pdf"))

        data = download(client, job)
        assert data.startswith(b"%PDF")
        text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
        assert "Caseload 2026-03-01 to 2026-03-31" in text
        assert "Cat Cole" in text
        assert "Ann Able" in text
        assert "Bob Baker" not in text  # not this psychologist's client

    def test_completion_event_notifies_the_owner(self, client_for, seeded_month):
        doctor = seeded_month["doctor"]
        job = build(request_report(client_for(doctor), "caseload"))

        event = OutboxEvent.objects.get(name="report.completed")
        assert event.payload["job_id"] == str(job.id)
        # each delivery followed by what its commit runs (the email is sent after commit)
        with TestCase.captureOnCommitCallbacks(execute=True):
            outbox_event_deliver(event_id=event.id)
        with TestCase.captureOnCommitCallbacks(execute=True):
            outbox_event_deliver(event_id=event.id)  # at-least-once: the second is a no-op

        mails = [m for m in mail.outbox if m.to == [doctor.email]]
        assert len(mails) == 1
        assert f"/api/v1/jobs/{job.id}/download/" in mails[0].body


class TestVolume:
    def test_staff_volume_by_clinician_and_status(self, client_for, seeded_month):
        client = client_for(StaffFactory())
        doctor, psych = seeded_month["doctor"], seeded_month["psych"]

        rows = csv_rows(download(client, build(request_report(client, "appointment_volume"))))

        assert rows == [
            ["clinician_id", "clinician_name", "status", "appointments"],
            [str(doctor.pk), "Dana Doctor", "cancelled", "1"],
            [str(doctor.pk), "Dana Doctor", "completed", "3"],
            [str(doctor.pk), "Dana Doctor", "no_show", "1"],
            [str(doctor.pk), "Dana Doctor", "scheduled", "1"],
            [str(psych.pk), "Pat Psych", "completed", "1"],
            [str(psych.pk), "Pat Psych", "no_show", "1"],
        ]


class TestRequest:
    def test_same_key_twice_is_one_job_and_another_body_is_422(self, client_for):
        client = client_for(DoctorFactory())
        first = request_report(client, "caseload", key="r-1")
        again = request_report(client, "caseload", key="r-1")
        other = request_report(client, "caseload", key="r-1", to="2026-03-30")

        assert first.status_code == again.status_code == 202
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert other.status_code == 422
        assert Job.objects.count() == 1

    @pytest.mark.parametrize(
        ("kind", "factory"),
        [
            ("caseload", StaffFactory),
            ("caseload", PatientFactory),
            ("appointment_volume", DoctorFactory),
        ],
    )
    def test_wrong_role_is_403(self, client_for, kind, factory):
        response = request_report(client_for(factory()), kind)
        assert response.status_code == 403
        assert "error" in response.json()
        assert Job.objects.count() == 0

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"kind": "sales"}, "validation_error"),
            ({"from": "yesterday"}, "validation_error"),
            ({"to": 20260301}, "validation_error"),
            ({"format": "xlsx"}, "validation_error"),
            ({"from": "2026-04-01"}, "report_range_invalid"),  # after "to"
            ({"from": "2020-01-01"}, "report_range_too_long"),  # more than a year
            ({"kind": None}, "validation_error"),
        ],
    )
    def test_bad_input_is_400_and_creates_nothing(self, client_for, body, code):
        response = request_report(client_for(DoctorFactory()), "caseload", body=body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
        assert Job.objects.count() == 0

    def test_missing_fields_and_malformed_json_are_400(self, client_for):
        client = client_for(DoctorFactory())
        assert client.post(URL, {}, format="json").status_code == 400
        response = client.generic("POST", URL, b"{not json", content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "malformed_request"
        assert Job.objects.count() == 0

    def test_anonymous_is_401(self, api_client):
        assert request_report(api_client, "caseload").status_code == 401


class TestJobAccess:
    def test_another_users_report_job_is_404(self, client_for):
        owner = DoctorFactory()
        job_id = request_report(client_for(owner), "caseload").json()["job_id"]
        stranger = client_for(DoctorFactory())

        assert stranger.get(f"/api/v1/jobs/{job_id}/").status_code == 404
        assert stranger.get(f"/api/v1/jobs/{job_id}/download/").status_code == 404

    def test_unknown_job_id_is_404(self, client_for):
        client = client_for(DoctorFactory())
        assert client.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000/").status_code == 404
        assert client.get("/api/v1/jobs/not-a-uuid/").status_code == 404
