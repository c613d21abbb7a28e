"""Streaming reader of the hospital CSV: UTF-8 (BOM tolerated), a header row, any column order.

Nothing here holds more than one record in memory. Row numbers are the file's line
numbers (the header is row 1), which is what a text editor or spreadsheet shows.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, NamedTuple

from bulk_import.validation import COLUMNS, REQUIRED_COLUMNS

# A field longer than this is not a hospital attribute; csv refuses it instead of buffering.
MAX_FIELD_CHARS = 10_000
csv.field_size_limit(MAX_FIELD_CHARS)

# How many bytes are enough to hold any sane header row.
HEADER_PROBE_BYTES = 64 * 1024


class CsvFormatError(ValueError):
    """The file is not a CSV this import can read; ``details`` names what is wrong."""

    def __init__(self, message: str, *, code: str, details: dict[str, object] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or {}


@dataclass(frozen=True)
class Header:
    """Where each known column sits in the file (``None``: column absent, imported blank)."""

    positions: tuple[int | None, ...]
    width: int

    def __post_init__(self) -> None:
        present = [p for p in self.positions if p is not None]
        if len(present) == len(self.positions):  # every column: one C-level itemgetter call
            getter = operator.itemgetter(*present)
            object.__setattr__(self, "pick", getter)

    def pick(self, record: list[str]) -> tuple[str, ...]:
        return tuple("" if p is None else record[p] for p in self.positions)


def parse_header(record: list[str]) -> Header:
    names = [name.strip().lower() for name in record]
    if not any(names):
        raise CsvFormatError("The file has no header row.", code="csv_header_missing")
    unknown = sorted({n for n in names if n not in COLUMNS})
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if unknown or missing or duplicated:
        raise CsvFormatError(
            "The header row is wrong: "
            + "; ".join(
                part
                for part in (
                    f"missing required columns {', '.join(missing)}" if missing else "",
                    f"unknown columns {', '.join(unknown)}" if unknown else "",
                    f"duplicated columns {', '.join(duplicated)}" if duplicated else "",
                )
                if part
            )
            + f". Allowed columns: {', '.join(COLUMNS)}.",
            code="csv_header_invalid",
            details={
                "missing_columns": missing,
                "unknown_columns": unknown,
                "duplicated_columns": duplicated,
                "allowed_columns": list(COLUMNS),
            },
        )
    positions = tuple(names.index(c) if c in names else None for c in COLUMNS)
    return Header(positions=positions, width=len(names))


def read_header(raw: IO[bytes]) -> Header:
    """Check the header row at the start of ``raw`` (used before a file is accepted)."""
    head = raw.read(HEADER_PROBE_BYTES)
    if not head.strip():
        raise CsvFormatError("The file is empty.", code="csv_empty")
    if b"\x00" in head:
        raise CsvFormatError("The file is not a text CSV file.", code="csv_not_text")
    text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    # errors="strict" above: an undecodable start raises UnicodeDecodeError for the caller.
    try:
        record = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise CsvFormatError(
            f"The header row is not valid CSV: {exc}.", code="csv_invalid"
        ) from exc
    return parse_header(record)


class Record(NamedTuple):
    """One data record: its row number and either its values (``COLUMNS`` order) or why not.

    A NamedTuple, not a dataclass: one is built per row, and tuples are cheaper to build.
    """

    row: int
    values: tuple[str, ...] | None
    problem: str | None = None


# Record's own __new__ is Python code; tuple.__new__ builds the same Record in C (per row).
_new_record = functools.partial(tuple.__new__, Record)


def iter_records(raw: IO[bytes]) -> Iterator[Record]:
    """Yield every non-blank data record of ``raw`` after checking its header."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        yield from _records(text)
    finally:
        text.detach()  # leave ``raw`` open for its owner (a collected wrapper would close it)


def _records(text: IO[str]) -> Iterator[Record]:
    reader = csv.reader(text, strict=False)
    try:
        header = parse_header(next(reader, []))
    except csv.Error as exc:
        raise CsvFormatError(
            f"The header row is not valid CSV: {exc}.", code="csv_invalid"
        ) from exc
    width = header.width
    last_line = reader.line_num
    while True:
        row = last_line + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            yield Record(row, None, f"not valid CSV ({exc})")
            continue
        last_line = reader.line_num
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # blank line
        if len(record) != width:
            yield Record(
                row, None, f"expected {width} columns as in the header, found {len(record)}"
            )
            continue
        yield _new_record((row, header.pick(record), None))
