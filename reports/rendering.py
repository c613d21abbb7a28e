"""Report files: CSV with the csv module, PDF with reportlab (a table per report).

Both carry user-written text (names, emails): CSV cells go through ``core.csv_safety`` so a
spreadsheet never runs them as formulas, and PDF text is escaped before it reaches
reportlab's Paragraph markup, where ``<font size=99>`` or ``</para>`` would be tags.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.csv_safety import csv_row

Row = Sequence[object]


def render_csv(columns: Sequence[str], rows: Sequence[Row]) -> bytes:
    out = io.StringIO(newline="")
    # RFC 4180's CRLF: the writer then quotes a field holding a bare CR, which a
    # spreadsheet would otherwise read as a new row starting with the rest of the field.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_row(columns))
    writer.writerows(csv_row(row) for row in rows)
    return out.getvalue().encode("utf-8")


def render_pdf(*, title: str, subtitle: str, columns: Sequence[str], rows: Sequence[Row]) -> bytes:
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    document = SimpleDocTemplate(buffer, pagesize=landscape(A4), title=title)
    table = Table([list(columns), *[[str(value) for value in row] for row in rows]], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
            ]
        )
    )
    story = [
        # Table cells given as plain strings are drawn as text; Paragraphs parse markup.
        Paragraph(escape(title), styles["Title"]),
        Paragraph(escape(subtitle), styles["Normal"]),
        Spacer(1, 12),
        table if rows else Paragraph("No appointments in this period.", styles["Normal"]),
    ]
    document.build(story)
    return buffer.getvalue()
