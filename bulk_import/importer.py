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
import gc
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import IO

from django.db import DatabaseError, transaction

from bulk_import.csv_source import Record, iter_records
from bulk_import.upsert import BatchOutcome, BatchStream, StagedRow, Upserter, upserter_for
from bulk_import.validation import RowError, normalise, row_errors, rows_valid
from core.csv_safety import csv_cell
from core.metrics import IMPORT_ROWS, count_on_commit

IMPORT_BATCH_ROWS = 10_000  # one transaction each; measured: larger batches gain <3 %
VALIDATE_CHUNK_ROWS = 1_000  # records whose rules are checked together, a column at a time
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
            # The field and message can echo the uploaded file: no formula in a spreadsheet.
            self.writer.writerow((error.row, csv_cell(error.field), csv_cell(error.message)))
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


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """An import allocates millions of short-lived tuples and strings, freed by reference
    counting; Python's cycle collector ran over the whole heap again and again meanwhile
    (a sixth of a million-row import). Paused for the loop; cycles made in it are
    collected when it resumes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _validated(records: Iterable[Record]) -> Iterator[tuple[Record, list[str], list[RowError]]]:
    """Each record with its normalised values and its errors (none: a row to import).

    The rules run on chunks of records a column at a time (``rows_valid``, C code); only
    a chunk holding some bad row is checked row by row, for the messages.
    """
    source = iter(records)
    while chunk := list(itertools.islice(source, VALIDATE_CHUNK_ROWS)):
        values = [normalise(r.values) if r.values is not None else [] for r in chunk]
        if all(values) and rows_valid(values):
            for record, cleaned in zip(chunk, values, strict=True):
                yield record, cleaned, []
            continue
        for record, cleaned in zip(chunk, values, strict=True):
            if record.values is None:
                yield record, cleaned, [RowError(record.row, "row", str(record.problem))]
            else:
                yield record, cleaned, row_errors(record.row, cleaned)


def import_hospitals(
    raw: IO[bytes],
    *,
    total_bytes: int,
    rejects: RejectSink,
    resume_from: Checkpoint | None = None,
    on_batch: BatchCommitted | None = None,
    batch_rows: int | None = None,
    upserter: Upserter | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> ImportSummary:
    """Import every record of ``raw``; batches at or below ``resume_from`` are not rewritten.

    A first import COPYs each batch into the table while it is read (``BatchStream``);
    any other batch is written once it is complete. Each written batch is one durable
    transaction, with its checkpoint (``on_batch``). ``heartbeat`` is called after every
    batch, written or only re-read, outside its transaction.
    """
    checkpoint = resume_from or Checkpoint()
    committed_before = checkpoint.batches
    batch_rows = batch_rows or IMPORT_BATCH_ROWS
    db = upserter or upserter_for()
    rows = batch_number = 0
    batch: list[StagedRow] = []
    batch_rejects: list[list[RowError]] = []
    stream: BatchStream | None = None

    def committed(outcome: BatchOutcome, percent: int) -> None:
        """Inside the batch's transaction: the checkpoint commits with the rows."""
        nonlocal checkpoint
        checkpoint = checkpoint.plus(outcome)
        count_on_commit(IMPORT_ROWS, outcome.created + outcome.updated + outcome.unchanged)
        if on_batch is not None:
            on_batch(checkpoint, percent)

    def write(percent: int) -> BatchOutcome:
        nonlocal stream
        if stream is not None:
            streamed, stream = stream, None
            try:
                outcome = streamed.finish()
                committed(outcome, percent)
            except BaseException:
                streamed.__exit__(*sys.exc_info())
                raise
            streamed.__exit__(None, None, None)
            return outcome
        written = batch_number > committed_before
        prepared = db.prepare(batch)
        with transaction.atomic(durable=True):
            outcome = db.apply(prepared, write=written)
            if written:
                committed(outcome, percent)
        return outcome

    def flush() -> None:
        nonlocal batch, batch_rejects, batch_number
        outcome = BatchOutcome()
        if batch:
            batch_number += 1
            outcome = write(min(99, raw.tell() * 100 // max(total_bytes, 1)))
        batch_rejects.extend(
            [RowError(row, "code", f"duplicate of row {first}, which is imported")]
            for row, first in outcome.duplicates
        )
        batch_rejects.sort(key=lambda one_row: one_row[0].row)
        for one_row in batch_rejects:
            rejects.add_row(one_row)
        batch, batch_rejects = [], []
        if heartbeat is not None:
            heartbeat()

    db.open(resuming=committed_before > 0)
    with _cyclic_gc_paused():
        try:
            for record, values, errors in _validated(iter_records(raw)):
                rows += 1
                if errors:
                    batch_rejects.append(errors)
                    continue
                row = (record.row, *values)
                if not batch and batch_number + 1 > committed_before:
                    stream = db.stream()  # a batch to write: COPY it as it is read, if it may
                    if stream is not None:
                        stream.__enter__()
                batch.append(row)
                if stream is not None:
                    stream.add(row)
                if len(batch) >= batch_rows:
                    flush()
            flush()
        except BaseException:
            if stream is not None:  # the batch being read: its transaction rolls back
                stream.__exit__(*sys.exc_info())
            raise
        finally:
            with contextlib.suppress(DatabaseError):
                db.close()
    return ImportSummary(
        rows=rows,
        created=checkpoint.created,
        updated=checkpoint.updated,
        unchanged=checkpoint.unchanged,
        rejected=rejects.rows,
    )
