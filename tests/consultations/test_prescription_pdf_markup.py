"""The prescription PDF prints every user-written string literally (reportlab markup is text)."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from pypdf import PdfReader

from consultations.models import Prescription
from consultations.pdf import prescription_pdf
from tests.factories import (
    DoctorFactory,
    PatientFactory,
    PrescriptionFactory,
    completed_consultation,
)

pytestmark = pytest.mark.django_db

MARKUP = "<b>x</b><font size=99>"


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_names_instructions_and_reason_written_as_markup_print_literally():
    # given a patient, a prescriber and a cancelled prescription whose every free-text
    # field is reportlab markup, an unclosed tag, or a bare & or <
    patient = PatientFactory(first_name=MARKUP, last_name="</para>")
    doctor = DoctorFactory(first_name="Tom & Jerry", last_name="<Smith")
    prescription = PrescriptionFactory.create(
        consultation=completed_consultation(doctor, patient),
        prescriber=doctor,
        medication="</para><para>",
        dose="5 & <10 mg",
        frequency="<i>twice</i>",
        duration="<font color=red>7 days",
        instructions="<a href='http://evil.example/'>Take</a> & rest",
        status=Prescription.Status.CANCELLED,
        cancelled_at=timezone.now(),
        cancelled_by=doctor,
        cancellation_reason="<br/>wrong & dose",
    )

    # when the PDF is rendered
    text = pdf_text(prescription_pdf(prescription))

    # then each value is on the page as typed, not obeyed as a tag (and nothing crashed)
    for literal in (
        f"Patient: {MARKUP} </para>",
        "Prescriber: Tom & Jerry <Smith",
        "</para><para>",
        "5 & <10 mg",
        "<i>twice</i>",
        "<font color=red>7 days",
        "<a href='http://evil.example/'>Take</a> & rest",
        "CANCELLED: <br/>wrong & dose",
    ):
        assert literal in text
