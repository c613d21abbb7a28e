"""The import's row rules are the Hospital model's rules: same verdict as ``full_clean``."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Hospital
from bulk_import.csv_source import CsvFormatError, iter_records, read_header
from bulk_import.validation import COLUMNS, normalise, row_errors

# Values near the rules' edges: lengths around the limits, the characters the regexes
# accept and refuse, real and unreal country codes.
chars = st.sampled_from(list("Aa0 9-_.+()#é!,\t"))
value = st.one_of(
    st.text(chars, max_size=40),
    st.sampled_from(["", "GB", "gb", "XX", "FR", "+44 20 7946 0000", "EX1 2MP", "A" * 201]),
)


def model_verdict(values: dict[str, str]) -> set[str]:
    try:
        Hospital(**values).full_clean(validate_unique=False)
    except ValidationError as exc:
        return set(exc.message_dict)
    return set()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.tuples(*[value] * len(COLUMNS)))
def test_row_rules_agree_with_the_model(raw):
    # given any row, normalised as the import does (trimmed; country upper-cased)
    values = normalise(raw)

    # then the import refuses exactly the fields the model's full_clean refuses
    refused = {error.field for error in row_errors(2, values)}
    assert refused == model_verdict(dict(zip(COLUMNS, values, strict=True)))


def test_messages_are_the_models_own():
    values = normalise(["H 1", "", "", "", "", "!!", "XX", "abc"])
    assert [str(e) for e in row_errors(17, values)] == [
        "row 17, code: Use 1-32 letters, digits, dots, hyphens or underscores.",
        "row 17, name: This field cannot be blank.",
        "row 17, postal_code: Enter a postal code of 3-12 letters, digits, spaces or hyphens.",
        "row 17, country: Value 'XX' is not a valid choice.",
        "row 17, phone: Enter a phone number of digits with optional +, spaces, dots, hyphens "
        "or brackets.",
    ]


class TestCsvSource:
    def test_bom_any_order_missing_optional_columns_and_quoted_newlines(self):
        data = '\ufeffname,CODE\n"Clinic, North",H1\n\n"Two\nLines",H2\n'.encode()
        records = list(iter_records(io.BytesIO(data)))
        assert [(r.row, r.values) for r in records] == [
            (2, ("H1", "Clinic, North", "", "", "", "", "", "")),
            (4, ("H2", "Two\nLines", "", "", "", "", "", "")),
        ]

    def test_a_row_with_the_wrong_number_of_fields_is_a_reject_not_a_crash(self):
        records = list(iter_records(io.BytesIO(b"code,name\nH1,A,extra\nH2\nH3,C\n")))
        assert [(r.row, r.problem is None) for r in records] == [(2, False), (3, False), (4, True)]
        assert "expected 2 columns" in records[0].problem

    @pytest.mark.parametrize(
        ("data", "code"),
        [
            (b"", "csv_empty"),
            (b"code,name,code\n", "csv_header_invalid"),
            (b",,\n", "csv_header_missing"),
        ],
    )
    def test_bad_headers(self, data, code):
        with pytest.raises(CsvFormatError) as caught:
            read_header(io.BytesIO(data))
        assert caught.value.code == code

    def test_reading_leaves_the_file_open_for_its_owner(self):
        raw = io.BytesIO(b"code,name\nH1,A\n")
        list(iter_records(raw))
        assert not raw.closed


edge_values = st.one_of(
    value,
    st.text(max_size=30),  # any characters at all
    st.sampled_from(["A" * n for n in (11, 12, 13, 24, 25, 32, 33, 100, 101, 200, 255, 256)]),
)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(range(len(COLUMNS))), edge_values)
def test_each_columns_fast_test_decides_as_the_fields_own_checks(column, raw):
    # given one (trimmed, as the import trims) value of one column
    from bulk_import.validation import COLUMN_TESTS, RULES

    cleaned = normalise([raw if i == column else "" for i in range(len(COLUMNS))])[column]
    # then the one-call fast test accepts it exactly when Django's checks find nothing
    assert bool(COLUMN_TESTS[column](cleaned)) == (RULES[column].explain(cleaned) is None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(*[edge_values] * len(COLUMNS)), max_size=6))
def test_a_chunk_is_valid_at_once_exactly_when_every_row_is(raw_rows):
    # given rows, normalised as the import does
    from bulk_import.validation import rows_valid

    rows = [normalise(raw) for raw in raw_rows]
    # then the column-at-a-time check agrees with the row-by-row rules
    assert rows_valid(rows) == all(not row_errors(2, row) for row in rows)


def test_a_chunk_with_a_short_row_is_never_valid_at_once():
    from bulk_import.validation import rows_valid

    good = normalise(["H1", "Clinic", "", "", "", "", "GB", ""])
    assert rows_valid([good, good])
    assert not rows_valid([good, good[:-1]])
