"""The prescription as a PDF for the patient, rendered on the server with reportlab.

reportlab is pure Python (WeasyPrint would need Pango and friends on every host).
"""

from __future__ import annotations

from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

from consultations.models import Prescription


def _person(user: object) -> str:
    return str(getattr(user, "full_name", "") or getattr(user, "email", ""))


def prescription_pdf(prescription: Prescription) -> bytes:
    styles = getSampleStyleSheet()
    patient = prescription.consultation.appointment.patient
    rows = [
        ["Medication", prescription.medication],
        ["Dose", prescription.dose],
        ["Route", prescription.get_route_display()],
        ["Frequency", prescription.frequency],
        ["Duration", prescription.duration],
        ["Quantity", str(prescription.quantity)],
        ["Refills", str(prescription.refills)],
        ["Issued", prescription.issued_at.strftime("%Y-%m-%d %H:%M UTC")],
    ]
    # Paragraphs parse a small markup language: every user-written value is escaped.
    cells = [[label, Paragraph(escape(value), styles["Normal"])] for label, value in rows]
    story = [
        Paragraph("Carebook prescription", styles["Title"]),
        Paragraph(f"Prescription no. {prescription.pk}", styles["Normal"]),
        Paragraph(f"Patient: {escape(_person(patient))}", styles["Normal"]),
        Paragraph(f"Prescriber: {escape(_person(prescription.prescriber))}", styles["Normal"]),
        Spacer(1, 6 * mm),
        Table(cells, colWidths=[35 * mm, 125 * mm]),
        Spacer(1, 6 * mm),
    ]
    if prescription.instructions:
        story.append(
            Paragraph(f"Instructions: {escape(prescription.instructions)}", styles["Normal"])
        )
    if prescription.status == Prescription.Status.CANCELLED:
        story.append(
            Paragraph(f"CANCELLED: {escape(prescription.cancellation_reason)}", styles["Heading2"])
        )
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Prescription {prescription.pk}", author="Carebook"
    )
    document.build(story)
    return buffer.getvalue()
