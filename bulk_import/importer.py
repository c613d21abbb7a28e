"""The import engine: stream records, validate, upsert in batches, report rejects.

It knows nothing of jobs or HTTP: ``services.py`` gives it a file, a place for the
rejects and a callback that records progress inside each batch's transaction. That
callback is what makes a re-delivered task resume exactly: batches at or below the
checkpoint are re-read (to rebuild the duplicate-code index and the rejects) but not
re-written, and the counts carry on from the checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import IO

from django.db import DatabaseError, transaction

from bulk_import.csv_source import iter_records
from bulk_import.upsert import BatchOutcome, StagedRow, upserter_for
from bulk_import.validation import RowError, normalise, row_errors

IMPORT_BATCH_ROWS = 10_000  # one transaction each; measured: larger batches gain <3 %
MAX_REJECTS_IN_JOB = 1_000  # the rest are only in the downloadable rejects CSV
REJECTS_HEADER = ("row", "field", "message")


@dataclass
class Checkpoint:
    """Work committed so far; stored in the job in the same transaction as each batch."""

    batches: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def plus(self, outcome: BatchOutcome) -> Checkpoint:
        return Checkpoint(
            batches=self.batches + 1,
            created=self.created + outcome.created,
            updated=self.updated + outcome.updated,
            unchanged=self.unchanged + outcome.unchanged,
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Checkpoint:
        if not isinstance(data, dict):
            return cls()
        return cls(
            **{k: int(data.get(k, 0)) for k in ("batches", "created", "updated", "unchanged")}
        )


class RejectSink:
    """All rejects go to a CSV file; the first ``MAX_REJECTS_IN_JOB`` are kept for the job."""

    def __init__(self, out: IO[str]) -> None:
        self.writer = csv.writer(out)
        self.writer.writerow(REJECTS_HEADER)
        self.first: list[dict[str, object]] = []
        self.rows = 0

    def add_row(self, errors: list[RowError]) -> None:
        self.rows += 1
        for error in errors:
            self.writer.writerow((error.row, error.field, error.message))
            if len(self.first) < MAX_REJECTS_IN_JOB:
                self.first.append(error.as_dict())


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    created: int
    updated: int
    unchanged: int
    rejected: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# Called inside each written batch's transaction with the new checkpoint and a percent.
BatchCommitted = Callable[[Checkpoint, int], None]


def import_hospitals(
    raw: IO[bytes],
    *,
    total_bytes: int,
    rejects: RejectSink,
    resume_from: Checkpoint | None = None,
    on_batch: BatchCommitted | None = None,
    batch_rows: int = IMPORT_BATCH_ROWS,
) -> ImportSummary:
    checkpoint = resume_from or Checkpoint()
    upserter = upserter_for()
    upserter.open()
    rows = 0
    batch: list[StagedRow] = []
    pending_rejects: list[list[RowError]] = []
    batch_number = 0

    def flush() -> None:
        nonlocal checkpoint, batch_number
        outcome = BatchOutcome()
        if batch:
            batch_number += 1
            write = batch_number > checkpoint.batches
            percent = min(99, raw.tell() * 100 // max(total_bytes, 1))
            with transaction.atomic(durable=True):
                outcome = upserter.apply(batch, write=write)
                if write:
                    checkpoint = checkpoint.plus(outcome)
                    if on_batch is not None:
                        on_batch(checkpoint, percent)
        pending_rejects.extend(
            [RowError(row, "code", f"duplicate of row {first}, which is imported")]
            for row, first in outcome.duplicates
        )
        pending_rejects.sort(key=lambda errors: errors[0].row)
        for errors in pending_rejects:
            rejects.add_row(errors)
        pending_rejects.clear()
        batch.clear()

    try:
        for record in iter_records(raw):
            rows += 1
            if record.values is None:
                pending_rejects.append([RowError(record.row, "row", str(record.problem))])
                continue
            values = normalise(record.values)
            errors = row_errors(record.row, values)
            if errors:
                pending_rejects.append(errors)
                continue
            batch.append((record.row, *values))
            if len(batch) >= batch_rows:
                flush()
        flush()
    finally:
        with contextlib.suppress(DatabaseError):  # never hide the error that got us here
            upserter.close()
    return ImportSummary(
        rows=rows,
        created=checkpoint.created,
        updated=checkpoint.updated,
        unchanged=checkpoint.unchanged,
        rejected=rejects.rows,
    )
