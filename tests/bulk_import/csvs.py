"""Builders of hospital CSV files for the import tests (generated, obviously fake data)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

HEADER = ("code", "name", "address", "city", "region", "postal_code", "country", "phone")


def hospital_row(i: int, *, name_suffix: str = "") -> tuple[str, ...]:
    return (
        f"H{i:07d}",
        f"Example Hospital {i}{name_suffix}",
        f"{i} Example Street",
        "Exampleton",
        "Example Region",
        f"EX{i % 90 + 10} {i % 9}AB",
        "GB",
        f"+44 20 7946 {i % 10000:04d}",
    )


def csv_bytes(rows, header=HEADER, *, bom: bool = False) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode()
    return b"\xef\xbb\xbf" + data if bom else data


def write_hospital_csv(path: Path, count: int, *, bad_every: int | None = None, **kw) -> set[int]:
    """Write ``count`` rows; every ``bad_every``-th has a bad postal code. Returns bad rows."""
    bad_rows: set[int] = set()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(count):
            row = list(hospital_row(i, **kw))
            if bad_every and i % bad_every == bad_every - 1:
                row[5] = "!!"
                bad_rows.add(i + 2)  # the file's line number: the header is row 1
            writer.writerow(row)
    return bad_rows


def write_many_hospitals(path: Path, count: int) -> None:
    """``count`` rows as ``write_hospital_csv`` writes them, twice as fast: the generated
    values hold no comma, quote or line break, so a plain join is valid CSV."""
    with path.open("w", newline="") as handle:
        handle.write(",".join(HEADER) + "\n")
        handle.writelines(",".join(hospital_row(i)) + "\n" for i in range(count))
