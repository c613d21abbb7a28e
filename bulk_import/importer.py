"""The import engine: stream records, validate, upsert in batches, report rejects.

It knows nothing of jobs or HTTP: ``import_services.py`` gives it a file, a place for the
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import IO

from django.db import DatabaseError, transaction

from bulk_import.csv_source import Record, iter_records
from bulk_import.metrics import IMPORT_ROWS
from bulk_import.upsert import BatchOutcome, BatchStream, StagedRow, Upserter, upserter_for
from bulk_import.validation import RowError, normalise, row_errors, rows_valid
from core.csv_safety import csv_cell
from core.metrics import count_on_commit

IMPORT_BATCH_ROWS = 10_000  # one transaction each; larger ones gain little (docs/bulk_import.md)
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


Validated = tuple[Record, list[str], list[RowError]]


def _validated(records: Iterable[Record]) -> Iterator[Validated]:
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


class HospitalImport:
    """One import of one file, in named steps: open the source, validate its records, stage
    a batch of rows, upsert it, checkpoint it (inside the batch's transaction), finish.

    A first import COPYs each batch into the table while it is read (``BatchStream``);
    any other batch is written once it is complete. Each written batch is one durable
    transaction, with its checkpoint (``on_batch``); batches at or below ``resume_from``
    are re-read but not rewritten. ``heartbeat`` is called after every batch, written or
    only re-read, outside its transaction.
    """

    def __init__(
        self,
        raw: IO[bytes],
        *,
        total_bytes: int,
        rejects: RejectSink,
        resume_from: Checkpoint | None = None,
        on_batch: BatchCommitted | None = None,
        batch_rows: int | None = None,
        upserter: Upserter | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.raw = raw
        self.total_bytes = total_bytes
        self.rejects = rejects
        self.progress = resume_from or Checkpoint()
        self.committed_before = self.progress.batches
        self.on_batch = on_batch
        self.batch_rows = batch_rows or IMPORT_BATCH_ROWS
        self.db = upserter or upserter_for()
        self.heartbeat = heartbeat
        self.rows = 0
        self.batch_number = 0
        self.batch_rejects: list[list[RowError]] = []

    def run(self) -> ImportSummary:
        with self.open_source(), _cyclic_gc_paused():
            records = self.validate()
            while (first := self._next_row(records)) is not None:
                self.batch_number += 1
                self._import_batch(first, records)
            self._report(BatchOutcome())  # the rejects after the last imported row
        return self.finish()

    @contextlib.contextmanager
    def open_source(self) -> Iterator[None]:
        """The upserter's working tables, dropped however the import ends."""
        self.db.open(resuming=self.committed_before > 0)
        try:
            yield
        finally:
            with contextlib.suppress(DatabaseError):
                self.db.close()

    def validate(self) -> Iterator[Validated]:
        return _validated(iter_records(self.raw))

    def stage(
        self, first: StagedRow, records: Iterator[Validated], stream: BatchStream | None = None
    ) -> list[StagedRow]:
        """Read one batch: ``first`` and the valid rows after it, up to ``batch_rows``
        (each also COPYed as it is read when ``stream`` is given)."""
        batch = [first]
        if stream is not None:
            stream.add(first)
        while len(batch) < self.batch_rows and (row := self._next_row(records)) is not None:
            batch.append(row)
            if stream is not None:
                stream.add(row)
        return batch

    def upsert(self, batch: list[StagedRow], *, written: bool) -> BatchOutcome:
        """Write a read batch in its own durable transaction (only re-read when not
        ``written``: it was committed by an earlier run)."""
        prepared = self.db.prepare(batch)
        with transaction.atomic(durable=True):
            outcome = self.db.apply(prepared, write=written)
            if written:
                self.checkpoint(outcome)
        return outcome

    def checkpoint(self, outcome: BatchOutcome) -> None:
        """Inside the batch's transaction: the checkpoint commits with the rows."""
        self.progress = self.progress.plus(outcome)
        count_on_commit(IMPORT_ROWS, outcome.created + outcome.updated + outcome.unchanged)
        if self.on_batch is not None:
            percent = min(99, self.raw.tell() * 100 // max(self.total_bytes, 1))
            self.on_batch(self.progress, percent)

    def finish(self) -> ImportSummary:
        return ImportSummary(
            rows=self.rows,
            created=self.progress.created,
            updated=self.progress.updated,
            unchanged=self.progress.unchanged,
            rejected=self.rejects.rows,
        )

    def _import_batch(self, first: StagedRow, records: Iterator[Validated]) -> None:
        written = self.batch_number > self.committed_before
        stream = self.db.stream() if written else None  # None: this upserter cannot COPY now
        if stream is None:
            outcome = self.upsert(self.stage(first, records), written=written)
        else:
            with stream:  # one durable transaction; an error while reading rolls it back
                self.stage(first, records, stream)
                outcome = stream.finish()
                self.checkpoint(outcome)
        self._report(outcome)

    def _next_row(self, records: Iterator[Validated]) -> StagedRow | None:
        """The next valid row; the rejected records before it wait for the batch's report."""
        for record, values, errors in records:
            self.rows += 1
            if not errors:
                return (record.row, *values)
            self.batch_rejects.append(errors)
        return None

    def _report(self, outcome: BatchOutcome) -> None:
        """The batch's rejects in row order (codes it repeated included), then a heartbeat."""
        found = self.batch_rejects + [
            [RowError(row, "code", f"duplicate of row {first}, which is imported")]
            for row, first in outcome.duplicates
        ]
        found.sort(key=lambda one_row: one_row[0].row)
        for one_row in found:
            self.rejects.add_row(one_row)
        self.batch_rejects = []
        if self.heartbeat is not None:
            self.heartbeat()
