"""Batch upsert of validated hospital rows by ``code``, and duplicate-code detection.

Two implementations behind one small interface:

* ``PostgresUpserter``: COPY (psycopg 3 ``cursor.copy``) into a temporary staging table,
  then one ``INSERT … ON CONFLICT (code) DO UPDATE … WHERE <something changed>``; a
  batch of codes new to the table is COPYed straight into it. Codes already seen in the
  file live in a second temporary table (or, while every batch was new, in a spill
  file), so memory stays flat however long the file is. Measured with
  ``benchmarks/import_throughput.py`` against ``bulk_create(update_conflicts=True)``,
  which is several times slower and whose memory grows with the file (docs/bulk_import.md).
* ``OrmUpserter``: ``bulk_create(update_conflicts=True)`` for the embedded SQLite demo.

The caller wraps each ``apply`` in its own transaction, so a killed worker never leaves
half a batch behind.
"""

from __future__ import annotations

import contextlib
import operator
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import psycopg.errors
from django.db import DatabaseError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from psycopg import sql

from accounts.models import Hospital
from bulk_import.validation import COLUMNS
from core.db import is_postgres

# (row number, *values in COLUMNS order)
StagedRow = tuple[object, ...]

TEMP_BUFFERS = "128MB"
SPILL_CHUNK_CHARS = 1 << 20
COLLATION = {"code": 'COLLATE "C"'}  # stage and seen codes compare byte by byte
STAGE_TABLE = "bulk_import_stage"
SEEN_TABLE = "bulk_import_seen"
# Columns an import may change; ``code`` is the key and never changes.
UPDATABLE = tuple(c for c in COLUMNS if c != "code")


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # (row, row of the first occurrence of the same code)
    duplicates: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class PreparedBatch:
    """A batch made ready by the parsing thread (the database thread only sends it)."""

    rows: Sequence[StagedRow]
    unique: list[StagedRow] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    seen_csv: str = ""
    table_csv: str = ""


class Upserter(Protocol):
    def open(self, *, resuming: bool = False) -> None: ...

    def close(self) -> None: ...

    def prepare(self, rows: Sequence[StagedRow]) -> PreparedBatch: ...

    def apply(self, batch: PreparedBatch, *, write: bool) -> BatchOutcome: ...

    def stream(self) -> BatchStream | None: ...


def upserter_for(db: BaseDatabaseWrapper = connection) -> Upserter:
    return PostgresUpserter(db) if is_postgres(db) else OrmUpserter()


# Rows go to COPY in its text format: one str.join per row (C code, far cheaper than the
# csv module's writer: docs/bulk_import.md). Only a row holding a backslash, tab, newline
# or carriage return needs its values escaped. An empty string stays an empty string
# (text format spells NULL \N, and a backslash is always escaped).
COPY_TEXT = sql.SQL("")


def _escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _copy_text(rows: Iterable[Sequence[str]], suffix: str = "") -> str:
    """``rows`` (all values ``str``) in COPY's text format, one line each; ``suffix``
    (already in that format, e.g. ``"\\t<time>"``) ends every line."""
    lines = []
    for row in rows:
        line = "\t".join(row)
        if line.count("\t") != len(row) - 1 or "\\" in line or "\n" in line or "\r" in line:
            line = "\t".join(map(_escape, row))
        lines.append(line + suffix)
    lines.append("")
    return "\n".join(lines)


def _column(name: str) -> sql.Identifier:
    field = Hospital._meta.get_field(name)
    return sql.Identifier(str(getattr(field, "column", name)))


class PostgresUpserter:
    """COPY into a staging table, then INSERT … ON CONFLICT from it (PostgreSQL only)."""

    def __init__(self, db: BaseDatabaseWrapper) -> None:
        self.db = db
        meta = Hospital._meta
        self.table = sql.Identifier(meta.db_table)
        cols = [_column(c) for c in COLUMNS]
        created = _column("created_at")
        updated = _column("updated_at")
        stage_cols = [sql.Identifier(c) for c in COLUMNS]
        upd = [(_column(c), sql.Identifier(c)) for c in UPDATABLE]
        self.expect_new_codes = True  # a first import: try plain COPY before the upsert
        self.spill: IO[str] | None = None
        self.seen_copy_sql = sql.SQL("COPY {seen} (code, row_no) FROM STDIN {csv}").format(
            seen=sql.Identifier(SEEN_TABLE), csv=COPY_TEXT
        )
        self.direct_copy_sql = sql.SQL(
            "COPY {table} ({cols}, {created}, {updated}) FROM STDIN {csv}"
        ).format(
            csv=COPY_TEXT,
            table=self.table,
            cols=sql.SQL(", ").join(cols),
            created=created,
            updated=updated,
        )
        self.copy_sql = sql.SQL("COPY {stage} (row_no, {cols}) FROM STDIN {csv}").format(
            stage=sql.Identifier(STAGE_TABLE), cols=sql.SQL(", ").join(stage_cols), csv=COPY_TEXT
        )
        # ``xmax = 0`` holds only for a freshly inserted tuple: it tells created from updated.
        self.upsert_sql = sql.SQL(
            """
            WITH upserted AS (
                INSERT INTO {table} AS h ({cols}, {created}, {updated})
                SELECT {s_cols}, now(), now()
                FROM {stage} s
                ON CONFLICT ({code}) DO UPDATE SET {assignments}, {updated} = EXCLUDED.{updated}
                WHERE ({h_cols}) IS DISTINCT FROM ({excluded_cols})
                RETURNING (h.xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM upserted
            """
        ).format(
            table=self.table,
            cols=sql.SQL(", ").join(cols),
            created=created,
            updated=updated,
            s_cols=sql.SQL(", ").join(sql.SQL("s.") + c for c in stage_cols),
            stage=sql.Identifier(STAGE_TABLE),
            code=cols[0],
            assignments=sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(col, col) for col, _ in upd
            ),
            h_cols=sql.SQL(", ").join(sql.SQL("h.") + col for col, _ in upd),
            excluded_cols=sql.SQL(", ").join(sql.SQL("EXCLUDED.") + col for col, _ in upd),
        )

    def open(self, *, resuming: bool = False) -> None:
        # A fresh run defers the seen-codes table: while every batch is new to the table,
        # a successful COPY into it proves its codes are new to the file too, so their
        # (code, row) pairs only go to a local spill file, loaded into the table the first
        # time a batch needs the upsert path. A resumed run re-reads committed batches to
        # rebuild the table, so it keeps it from the start.
        self.spill = None if resuming else tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by close()
        text_cols = ", ".join(f"{c} text {COLLATION.get(c, '')} NOT NULL" for c in COLUMNS)
        # Room for the seen-codes index in memory; only possible before a session's first
        # temporary table (true of the worker's fresh connection), else ignored.
        with (
            contextlib.suppress(DatabaseError),
            transaction.atomic(using=self.db.alias),
            self.db.cursor() as cur,
        ):
            cur.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
        with self.db.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}, {SEEN_TABLE}")
            cur.execute(f"CREATE TEMP TABLE {STAGE_TABLE} (row_no integer NOT NULL, {text_cols})")
            # Byte order ("C") is all a set of codes needs, and the cheapest to compare.
            cur.execute(
                f'CREATE TEMP TABLE {SEEN_TABLE} (code text COLLATE "C" PRIMARY KEY, '
                "row_no integer NOT NULL)"
            )

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()
            self.spill = None
        with self.db.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}, {SEEN_TABLE}")

    def prepare(self, rows: Sequence[StagedRow]) -> PreparedBatch:
        batch = PreparedBatch(rows=rows)
        batch.unique = _drop_batch_duplicates(rows, batch.duplicates)
        if self.expect_new_codes:
            stamp = timezone.now().isoformat()
            # Codes are validated ([A-Za-z0-9_.-]): nothing in them needs escaping.
            batch.seen_csv = "".join(f"{row[1]}\t{row[0]}\n" for row in batch.unique)
            batch.table_csv = _copy_text((*row[1:], stamp, stamp) for row in batch.unique)  # type: ignore[arg-type]
        return batch

    def apply(self, batch: PreparedBatch, *, write: bool) -> BatchOutcome:
        outcome = BatchOutcome(duplicates=list(batch.duplicates))
        unique = batch.unique
        with self.db.cursor() as cur:
            # A batch is re-derivable from the file: after a server crash the job's
            # checkpoint (same transaction) is lost with it and the batch is redone.
            cur.execute("SET LOCAL synchronous_commit = off")
        if write and batch.table_csv:
            if self._copy_new_rows(batch):
                outcome.created = len(unique)
                outcome.duplicates.sort()
                return outcome
            self.expect_new_codes = False
        self._stage_and_upsert(unique, outcome, write=write)
        if write:
            self.expect_new_codes = outcome.created == len(unique) - len(outcome.duplicates)
        outcome.duplicates.sort()
        return outcome

    def stream(self) -> BatchStream | None:
        """While every batch so far was new codes (a first import), the next one is COPYed
        into the table as it is parsed; None when it must take the prepared path."""
        if self.expect_new_codes and self.spill is not None:
            return BatchStream(self)
        return None

    def after_stream(self, stream: BatchStream, outcome: BatchOutcome, *, copied: bool) -> None:
        """Finish a streamed batch: remember its codes, or upsert it if COPY refused it."""
        if copied and self.spill is not None:
            self.spill.write("".join(f"{row[1]}\t{row[0]}\n" for row in stream.unique))
            outcome.created = len(stream.unique)
            return
        self.expect_new_codes = False
        self._stage_and_upsert(stream.unique, outcome, write=True)
        self.expect_new_codes = outcome.created == len(stream.unique) - len(outcome.duplicates)

    def _copy_new_rows(self, batch: PreparedBatch) -> bool:
        """Fast path for codes new to the table and to the file: COPY straight into both.

        A unique violation (a code already in the table or earlier in the file) rolls the
        savepoint back and the caller takes the staged upsert path for this batch.
        """
        try:
            with transaction.atomic(using=self.db.alias), self.db.cursor() as wrapper:
                cur = wrapper.cursor
                if self.spill is None:
                    with cur.copy(self.seen_copy_sql) as copy:
                        copy.write(batch.seen_csv)
                with cur.copy(self.direct_copy_sql) as copy:
                    copy.write(batch.table_csv)
        except psycopg.errors.UniqueViolation:
            return False
        if self.spill is not None:
            self.spill.write(batch.seen_csv)
        return True

    def _load_spilled_codes(self) -> None:
        """Switch to the seen-codes table: load the codes of the batches COPYed so far."""
        spill, self.spill = self.spill, None
        if spill is None:
            return
        with spill, self.db.cursor() as wrapper:
            spill.seek(0)
            with wrapper.cursor.copy(self.seen_copy_sql) as copy:
                while chunk := spill.read(SPILL_CHUNK_CHARS):
                    copy.write(chunk)

    def _stage_and_upsert(
        self, unique: list[StagedRow], outcome: BatchOutcome, *, write: bool
    ) -> None:
        self._load_spilled_codes()
        with self.db.cursor() as wrapper:
            cur = wrapper.cursor  # the psycopg cursor under Django's wrapper
            with cur.copy(self.copy_sql) as copy:
                copy.write(_copy_text((str(row[0]), *row[1:]) for row in unique))  # type: ignore[arg-type]
            # Codes first seen in this batch come back; the others were seen in an earlier one.
            cur.execute(
                f"INSERT INTO {SEEN_TABLE} (code, row_no) "  # noqa: S608 - constant names
                f"SELECT code, row_no FROM {STAGE_TABLE} "
                "ON CONFLICT (code) DO NOTHING RETURNING row_no"
            )
            firsts = {r for (r,) in cur.fetchall()}
            if len(firsts) < len(unique):
                self._drop_earlier_batch_duplicates(cur, unique, firsts, outcome)
            if write:
                cur.execute(self.upsert_sql)
                created, updated = cur.fetchone() or (0, 0)
                outcome.created, outcome.updated = int(created), int(updated)
                outcome.unchanged = len(firsts) - outcome.created - outcome.updated
            cur.execute(f"TRUNCATE {STAGE_TABLE}")

    def _drop_earlier_batch_duplicates(
        self, cur: Any, unique: list[StagedRow], firsts: set[int], outcome: BatchOutcome
    ) -> None:
        repeated = {str(row[1]): int(row[0]) for row in unique if row[0] not in firsts}  # type: ignore[call-overload]
        cur.execute(
            f"SELECT code, row_no FROM {SEEN_TABLE} WHERE code = ANY(%s)",  # noqa: S608
            [list(repeated)],
        )
        outcome.duplicates.extend((repeated[code], int(first)) for code, first in cur.fetchall())
        cur.execute(
            f"DELETE FROM {STAGE_TABLE} WHERE row_no = ANY(%s)",  # noqa: S608
            [list(repeated.values())],
        )


def _drop_batch_duplicates(
    rows: Sequence[StagedRow], duplicates: list[tuple[int, int]]
) -> list[StagedRow]:
    """Keep the first row of each code within the batch; record the others as duplicates."""
    first_row: dict[object, int] = {}
    unique = []
    for row in rows:
        first = first_row.setdefault(row[1], row[0])  # type: ignore[arg-type]
        if first == row[0]:
            unique.append(row)
        else:
            duplicates.append((int(row[0]), first))  # type: ignore[call-overload]
    return unique


_VALUES = operator.itemgetter(slice(1, None))  # a staged row without its row number


class BatchStream:
    """One batch COPYed straight into the table while the file is still being read.

    PostgreSQL ingests each chunk on its own core as this process parses the next, which
    a parse thread beside a database thread could not do: they shared one interpreter
    lock, and the database thread waited for it. The batch runs in its own (durable)
    transaction, the COPY in a savepoint: a code already in the table rolls back the
    COPY alone, and the batch takes the staged upsert path inside the same transaction.
    Use as a context manager: leaving it commits, or rolls back on an exception.
    """

    CHUNK_ROWS = 1_000  # rows per COPY write: small enough to keep the server busy early

    def __init__(self, upserter: PostgresUpserter) -> None:
        self.upserter = upserter
        self.unique: list[StagedRow] = []
        self.duplicates: list[tuple[int, int]] = []
        self._first: dict[object, int] = {}
        self._sent = 0  # rows of ``unique`` already written to the COPY
        stamp = timezone.now().isoformat()
        self._suffix = f"\t{stamp}\t{stamp}"  # created_at, updated_at
        self._stack = contextlib.ExitStack()
        self._copy_stack = contextlib.ExitStack()
        self._copy: Any = None
        self._refused: psycopg.errors.UniqueViolation | None = None

    def __enter__(self) -> BatchStream:
        db = self.upserter.db
        self._stack.enter_context(transaction.atomic(using=db.alias, durable=True))
        with db.cursor() as cur:
            # A batch is re-derivable from the file: after a server crash the job's
            # checkpoint (same transaction) is lost with it and the batch is redone.
            cur.execute("SET LOCAL synchronous_commit = off")
        self._copy_stack.enter_context(transaction.atomic(using=db.alias))
        cursor = self._copy_stack.enter_context(db.cursor()).cursor
        self._copy = self._copy_stack.enter_context(cursor.copy(self.upserter.direct_copy_sql))
        return self

    def add(self, row: StagedRow) -> None:
        first = self._first.setdefault(row[1], row[0])  # type: ignore[arg-type]
        if first != row[0]:  # the code is earlier in this batch: a duplicate
            self.duplicates.append((int(row[0]), first))  # type: ignore[call-overload]
            return
        self.unique.append(row)
        if len(self.unique) - self._sent >= self.CHUNK_ROWS:
            self._send()

    def finish(self) -> BatchOutcome:
        """End the COPY; the outcome's rows are written, the transaction still open."""
        outcome = BatchOutcome(duplicates=sorted(self.duplicates))
        self._send()
        try:
            if self._refused is not None:  # seen while writing: abort the COPY with it
                self._copy_stack.__exit__(type(self._refused), self._refused, None)
            else:
                self._copy_stack.close()  # ends the COPY and releases the savepoint
        except psycopg.errors.UniqueViolation:
            self._refused = self._refused or psycopg.errors.UniqueViolation()
        # On a refusal the savepoint was rolled back with the COPY, nothing else.
        self.upserter.after_stream(self, outcome, copied=self._refused is None)
        outcome.duplicates.sort()
        return outcome

    def _send(self) -> None:
        rows = self.unique[self._sent :]
        self._sent = len(self.unique)
        if rows and self._refused is None:
            try:
                self._copy.write(_copy_text(map(_VALUES, rows), self._suffix))
            except psycopg.errors.UniqueViolation as refused:  # the server said so early
                self._refused = refused

    def __exit__(self, *exc_info: Any) -> bool | None:
        self._copy_stack.__exit__(*exc_info)  # no-op once finish() closed it
        return self._stack.__exit__(*exc_info)


class OrmUpserter:
    """``bulk_create(update_conflicts=True)``: portable, used on SQLite.

    Codes seen in the file are kept in a dict here, which grows with the file; the
    embedded SQLite demo is not where a million-row directory is loaded.
    """

    LOOKUP_CHUNK = 500  # stays under SQLite's bound-parameter limit

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def open(self, *, resuming: bool = False) -> None:
        self.seen = {}

    def close(self) -> None:
        self.seen = {}

    def prepare(self, rows: Sequence[StagedRow]) -> PreparedBatch:
        return PreparedBatch(rows=rows)

    def stream(self) -> BatchStream | None:
        return None

    def apply(self, batch: PreparedBatch, *, write: bool) -> BatchOutcome:
        outcome = BatchOutcome()
        firsts: dict[str, tuple[str, ...]] = {}
        for row_no, *values in batch.rows:
            code = str(values[0])
            first = self.seen.setdefault(code, int(row_no))  # type: ignore[call-overload]
            if first != row_no:
                outcome.duplicates.append((int(row_no), first))  # type: ignore[call-overload]
            else:
                firsts[code] = tuple(str(v) for v in values)
        if not write or not firsts:
            return outcome
        existing = self._existing(list(firsts))
        to_write = []
        for code, new_values in firsts.items():
            if code not in existing:
                outcome.created += 1
            elif existing[code] != new_values:
                outcome.updated += 1
            else:
                outcome.unchanged += 1
                continue
            to_write.append(Hospital(**dict(zip(COLUMNS, new_values, strict=True))))
        Hospital.objects.bulk_create(
            to_write,
            batch_size=self.LOOKUP_CHUNK,
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=[*UPDATABLE, "updated_at"],
        )
        return outcome

    def _existing(self, codes: list[str]) -> dict[str, tuple[str, ...]]:
        existing: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(codes), self.LOOKUP_CHUNK):
            chunk = codes[start : start + self.LOOKUP_CHUNK]
            for values in Hospital.objects.filter(code__in=chunk).values_list(*COLUMNS):
                existing[str(values[0])] = tuple(str(v) for v in values)
        return existing
