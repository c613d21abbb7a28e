"""core.csv_safety: text that would start a spreadsheet formula is quoted; numbers are data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.csv_safety import csv_cell, csv_row


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_starting_a_formula_gets_a_leading_quote(start):
    assert csv_cell(f"{start}cmd|' /C calc'!A0") == f"'{start}cmd|' /C calc'!A0"


@pytest.mark.parametrize("value", ["Ann Able", "a=b", " =1", "ann@example.test", ""])
def test_other_text_is_unchanged(value):
    assert csv_cell(value) == value


def test_numbers_are_data_but_numeric_looking_text_is_not():
    # given numbers the product computed, and user-typed text that only looks numeric
    assert csv_row([-3, -3.2, Decimal("-0.5"), 0]) == [-3, -3.2, Decimal("-0.5"), 0]
    assert csv_row(["-3.2", "+44 20 7946 0000"]) == ["'-3.2", "'+44 20 7946 0000"]


def test_none_and_booleans_are_plain_text():
    assert csv_row([None, True, False]) == ["", "True", "False"]


def test_the_bulk_import_rejects_file_quotes_a_formula_echoed_from_the_upload():
    import csv
    import io

    from bulk_import.importer import RejectSink
    from bulk_import.validation import RowError

    # given a rejects file, and a reject whose field and message came from the upload
    out = io.StringIO(newline="")
    sink = RejectSink(out)

    # when the reject is written
    sink.add_row([RowError(17, "=cmd|' /C calc'!A0", "-2+3")])

    # then a spreadsheet sees text, and the row number stays a number
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [
        ["row", "field", "message"],
        ["17", "'=cmd|' /C calc'!A0", "'-2+3"],
    ]
