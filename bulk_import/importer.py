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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import IO, TypeVar

from django.db import DatabaseError, connection, transaction

from bulk_import.csv_source import iter_records
from bulk_import.upsert import BatchOutcome, PreparedBatch, StagedRow, Upserter, upserter_for
from bulk_import.validation import RowError, normalise, row_errors
from core.metrics import IMPORT_ROWS, count_on_commit

IMPORT_BATCH_ROWS = 10_000  # one transaction each; measured: larger batches gain <3 %
MAX_REJECTS_IN_JOB = 1_000  # the rest are only in the downloadable rejects CSV
REJECTS_HEADER = ("row", "field", "message")

T = TypeVar("T")


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


class _BatchWriter:
    """Runs the database side of the import.

    On PostgreSQL, outside any transaction (the Celery worker), it runs in one thread of
    its own with its own connection: the next batch is parsed and validated while the
    server ingests this one. Inside a transaction (a test's) it runs inline, because
    another connection could not see that transaction's rows.
    """

    def __init__(self, *, threaded: bool) -> None:
        self.executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-import-db")
            if threaded
            else None
        )

    def call(self, work: Callable[[], T]) -> Future[T]:
        if self.executor is not None:
            return self.executor.submit(work)
        done: Future[T] = Future()
        try:
            done.set_result(work())
        except BaseException as exc:
            done.set_exception(exc)
        return done

    def shutdown(self) -> None:
        if self.executor is not None:
            # A lambda: ``connection`` must be looked up in the thread, for its own connection.
            self.executor.submit(lambda: connection.close())
            self.executor.shutdown(wait=True)


def _can_thread() -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def import_hospitals(
    raw: IO[bytes],
    *,
    total_bytes: int,
    rejects: RejectSink,
    resume_from: Checkpoint | None = None,
    on_batch: BatchCommitted | None = None,
    batch_rows: int | None = None,
    upserter: Upserter | None = None,
) -> ImportSummary:
    """Import every record of ``raw``; batches at or below ``resume_from`` are not rewritten."""
    checkpoint = resume_from or Checkpoint()
    committed_before = checkpoint.batches
    batch_rows = batch_rows or IMPORT_BATCH_ROWS
    db = upserter or upserter_for()
    writer = _BatchWriter(threaded=_can_thread())
    rows = batch_number = 0
    batch: list[StagedRow] = []
    pending_rejects: list[list[RowError]] = []
    in_flight: tuple[Future[BatchOutcome], list[list[RowError]]] | None = None

    def write_batch(staged: PreparedBatch, write: bool, percent: int) -> BatchOutcome:
        nonlocal checkpoint  # only this (single) writer thread changes it
        with transaction.atomic(durable=True):
            outcome = db.apply(staged, write=write)
            if write:
                checkpoint = checkpoint.plus(outcome)
                count_on_commit(IMPORT_ROWS, outcome.created + outcome.updated + outcome.unchanged)
                if on_batch is not None:
                    on_batch(checkpoint, percent)
        return outcome

    def settle() -> None:
        """Wait for the batch in flight; report its rejects, in row order."""
        nonlocal in_flight
        if in_flight is None:
            return
        future, errors = in_flight
        in_flight = None
        outcome = future.result()
        errors.extend(
            [RowError(row, "code", f"duplicate of row {first}, which is imported")]
            for row, first in outcome.duplicates
        )
        errors.sort(key=lambda one_row: one_row[0].row)
        for one_row in errors:
            rejects.add_row(one_row)

    def flush() -> None:
        nonlocal batch, pending_rejects, batch_number, in_flight
        settle()
        if batch:
            batch_number += 1
            write = batch_number > committed_before
            percent = min(99, raw.tell() * 100 // max(total_bytes, 1))
            staged = db.prepare(batch)  # CSV for COPY built here, beside the parsing
            future = writer.call(lambda: write_batch(staged, write, percent))
        else:
            future = writer.call(BatchOutcome)
        in_flight = (future, pending_rejects)
        batch, pending_rejects = [], []

    try:
        writer.call(lambda: db.open(resuming=committed_before > 0)).result()
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
        settle()
    finally:
        if in_flight is not None:
            with contextlib.suppress(Exception):  # the original error is the one to see
                in_flight[0].result()
        with contextlib.suppress(DatabaseError):
            writer.call(db.close).result()
        writer.shutdown()
    return ImportSummary(
        rows=rows,
        created=checkpoint.created,
        updated=checkpoint.updated,
        unchanged=checkpoint.unchanged,
        rejected=rejects.rows,
    )
