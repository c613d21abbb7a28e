"""A streaming-replication standby of the primary, on loopback, for development and tests.

``make replica`` and ``tests/replica/`` use it: it copies the running primary with
``pg_basebackup -R`` into a directory of its own, writes the few settings a copy of a
Debian cluster lacks (its ``postgresql.conf`` and ``pg_hba.conf`` live in /etc, outside
the data directory), and starts it with ``pg_ctl`` on a free port of 127.0.0.1 as a hot
standby. The whole cluster is copied, so every database of the primary, including a
test database created later, appears on the standby.

PostgreSQL refuses to run as root: run as root, the files are owned by, and the
commands run as, the ``postgres`` OS user (``runuser``).

What the primary needs, checked before anything is copied:

* ``wal_level`` ``replica`` or ``logical`` and ``max_wal_senders`` of 3 or more (the
  copy streams its WAL through two senders, the standby uses one). Changing them needs a
  restart of the primary, which this module never does: it refuses with the reason.
* A ``replication`` line in ``pg_hba.conf`` for 127.0.0.1. A primary on this machine that
  lacks one gets it appended, with the authentication method its own line for
  ``host all all 127.0.0.1/32`` uses (``trust`` on the development and CI machine), and
  reloads (``pg_reload_conf()``). Idempotent: a primary that already accepts the
  replication connection is not touched. :func:`primary_prepare` says what it changed.

The standby streams through a physical replication slot on the primary, created (with
WAL reserved) before the copy: without it a busy primary recycles WAL between the end of
the copy and the standby's first connection, and the standby never catches up. The slot
is dropped with the standby; one of ours left inactive for ``STALE_SLOT_SECONDS`` (a
killed run) is dropped at the next start, so that it cannot hold WAL forever.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

PG_BIN = Path(os.environ.get("CAREBOOK_PG_BIN", "/usr/lib/postgresql/15/bin"))
LOOPBACK = "127.0.0.1"
HBA_MARKER = "# carebook local replica (core/local_replica.py)"
CLUSTER_NAME = "carebook_replica"
TEMP_PREFIX = "carebook-replica-"
# The standby's physical replication slot on the primary: carebook_replica_<epoch>_<port>.
SLOT_PREFIX = "carebook_replica_"
# An inactive slot of ours older than this was left by a killed run: dropped at the next
# start, so that it does not keep the primary's WAL forever.
STALE_SLOT_SECONDS = 600
# The standby's value of each must be at least the primary's (hot standby refuses to start).
_COPIED_LIMITS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


class ReplicaSetupError(RuntimeError):
    """The standby cannot be made; the message says why and what to change."""


@dataclass(frozen=True)
class Primary:
    host: str
    port: int
    user: str
    password: str = ""

    @classmethod
    def from_settings(cls, database: dict[str, Any]) -> Primary:
        return cls(
            host=database.get("HOST") or LOOPBACK,
            port=int(database.get("PORT") or 5432),
            user=database.get("USER") or "postgres",
            password=database.get("PASSWORD") or "",
        )

    def conninfo(self, dbname: str = "postgres", **extra: str) -> str:
        parts = {"host": self.host, "port": str(self.port), "user": self.user, "dbname": dbname}
        if self.password:
            parts["password"] = self.password
        parts.update(extra)
        return " ".join(f"{key}={_quoted(value)}" for key, value in parts.items())


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class LocalReplica:
    """A running standby: where it is, and the few controls a test needs."""

    data_dir: Path
    port: int
    primary: Primary
    slot: str = ""
    host: str = LOOPBACK

    def conninfo(self, dbname: str = "postgres") -> str:
        return Primary(self.host, self.port, self.primary.user, self.primary.password).conninfo(
            dbname
        )

    def url(self, dbname: str) -> str:
        """``DATABASE_REPLICA_URL`` for ``dbname`` on this standby."""
        secret = f":{self.primary.password}" if self.primary.password else ""
        return f"postgres://{self.primary.user}{secret}@{self.host}:{self.port}/{dbname}"

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row of ``sql`` run on the standby."""
        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(sql, params).fetchone()
            return row[0] if row else None

    def pause_replay(self) -> None:
        """Stop applying the primary's WAL (it is still received); returns once paused."""
        self.query("SELECT pg_wal_replay_pause()")
        _wait(
            lambda: self.query("SELECT pg_get_wal_replay_pause_state()") == "paused",
            "the standby's replay to pause",
        )

    def resume_replay(self) -> None:
        self.query("SELECT pg_wal_replay_resume()")

    def catch_up(self, timeout: float = 120.0) -> None:
        """Return once the standby has replayed everything the primary had written."""
        with psycopg.connect(self.primary.conninfo(), autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        target = row[0] if row else "0/0"
        _wait(
            lambda: self.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)),
            f"the standby to replay the primary's WAL up to {target}",
            timeout=timeout,
        )

    def running(self) -> bool:
        return _pg_ctl(self.data_dir, "status", check=False).returncode == 0

    def stop(self) -> None:
        """Stop the server (fast shutdown); the data directory stays."""
        if self.running():
            _pg_ctl(self.data_dir, "stop", "-m", "fast", "-w", "-t", "30")

    def start(self) -> None:
        """Start it again after :meth:`stop` (same port, same data)."""
        _pg_ctl(self.data_dir, "start", "-w", "-t", "60", "-l", str(self.data_dir / "server.log"))
        _wait(self._accepts_queries, "the standby to accept connections")

    def _accepts_queries(self) -> bool:
        try:
            return bool(self.query("SELECT pg_is_in_recovery()"))
        except psycopg.OperationalError:
            return False

    def destroy(self) -> None:
        """Stop it (killing the postmaster if a stop fails), drop its slot on the primary
        and delete its directory."""
        try:
            self.stop()
        except (subprocess.SubprocessError, OSError, ReplicaSetupError):
            _kill_postmaster(self.data_dir)
        try:
            if self.slot:
                _slot_drop(self.primary, self.slot)
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            _owner_file(self.data_dir).unlink(missing_ok=True)


# --- the primary ------------------------------------------------------------------------


def _primary_settings(primary: Primary) -> dict[str, str]:
    with psycopg.connect(primary.conninfo(), autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
            ([*_COPIED_LIMITS, "wal_level", "hba_file"],),
        ).fetchall()
    return dict(rows)


def _replication_allowed(primary: Primary) -> bool:
    """Whether the primary accepts a physical replication connection from us."""
    try:
        # Connecting is the check (a replication connection takes no extended-protocol query).
        psycopg.connect(
            primary.conninfo(replication="true"), autocommit=True, connect_timeout=5
        ).close()
    except psycopg.OperationalError as exc:
        if "pg_hba.conf" in str(exc):
            return False
        raise
    return True


def _loopback_auth_method(primary: Primary) -> str | None:
    with psycopg.connect(primary.conninfo(), autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND error IS NULL"
            " AND 'all' = ANY(database) AND address = %s ORDER BY line_number LIMIT 1",
            (LOOPBACK,),
        ).fetchone()
    return row[0] if row else None


def primary_prepare(primary: Primary) -> list[str]:
    """Check the primary can feed a standby; allow replication from 127.0.0.1 if it must.

    Returns the changes made (empty when none was needed); raises ReplicaSetupError when
    the primary needs a change this module does not make (a restart, a remote file).
    """
    current = _primary_settings(primary)
    if current.get("wal_level") not in {"replica", "logical"}:
        raise ReplicaSetupError(
            f"the primary has wal_level={current.get('wal_level')}: set wal_level = replica "
            "in its postgresql.conf and restart it."
        )
    if int(current.get("max_wal_senders", "0")) < 3:
        raise ReplicaSetupError(
            "the primary needs max_wal_senders >= 3 (set it in postgresql.conf and restart)."
        )
    if _replication_allowed(primary):
        return []
    hba_file = Path(current["hba_file"])
    method = _loopback_auth_method(primary)
    if (
        primary.host not in {LOOPBACK, "localhost"}
        or not method
        or not os.access(hba_file, os.W_OK)
    ):
        raise ReplicaSetupError(
            f"the primary refuses replication connections from {LOOPBACK}: add "
            f"'host replication all {LOOPBACK}/32 <method>' to its pg_hba.conf and reload it."
        )
    with hba_file.open("a") as hba:
        hba.write(f"\nhost replication all {LOOPBACK}/32 {method}  {HBA_MARKER}\n")
    with psycopg.connect(primary.conninfo(), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_reload_conf()")
    _wait(lambda: _replication_allowed(primary), "the primary to accept replication")
    return [f"{hba_file}: appended 'host replication all {LOOPBACK}/32 {method}', reloaded"]


# --- the standby --------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def replica_start(
    primary: Primary, *, data_dir: Path | None = None, port: int | None = None
) -> LocalReplica:
    """Copy the primary into ``data_dir`` (a new temporary directory if None) and start
    it as a hot standby on ``port`` (a free one if None). On failure nothing is left."""
    primary_prepare(primary)
    limits = _primary_settings(primary)
    _orphans_remove(primary)
    directory = data_dir or _temporary_directory()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise ReplicaSetupError(f"{directory} is not empty (a replica already there?)")
    port = port or free_port()
    _stale_slots_drop(primary)
    slot = f"{SLOT_PREFIX}{int(time.time())}_{port}"
    replica = LocalReplica(data_dir=directory, port=port, primary=primary, slot=slot)
    try:
        _own(directory)
        # Created first, reserving WAL from now: the copy streams through it and the
        # standby continues on it, so the primary cannot recycle WAL the standby still
        # needs (it does under load: "requested WAL segment … has already been removed").
        _primary_execute(primary, "SELECT pg_create_physical_replication_slot(%s, true)", slot)
        _base_backup(primary, directory, slot)
        _configure(replica, limits)
        replica.start()
    except BaseException:
        replica.destroy()
        _owner_file(directory).unlink(missing_ok=True)
        raise
    return replica


def _temporary_directory() -> Path:
    """A new directory under the temporary directory, with its owner's pid beside it, so
    that the next start removes it if its process was killed before it could."""
    directory = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    _owner_file(directory).write_text(str(os.getpid()))
    return directory


def _owner_file(directory: Path) -> Path:
    return directory.with_name(directory.name + ".owner")


def _orphans_remove(primary: Primary) -> None:
    """Stop and delete the temporary standbys whose owning process is gone (a test run
    killed before its clean-up: its standby would run, and hold its slot, forever)."""
    for owner in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*.owner"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(owner.read_text())
            if _process_alive(pid):
                continue
            directory = owner.with_name(owner.name.removesuffix(".owner"))
            if not replica_stop(directory, primary):
                shutil.rmtree(directory, ignore_errors=True)
            owner.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replica_stop(directory: Path, primary: Primary) -> bool:
    """Stop the standby in ``directory``, drop its slot on ``primary`` and delete the
    directory; False if none is there.

    Refuses a directory this module did not make (its ``postgresql.conf`` names the
    cluster ``carebook_replica``), so a wrong path never deletes someone's cluster.
    """
    conf = directory / "postgresql.conf"
    if not conf.is_file():
        return False
    if f"cluster_name = '{CLUSTER_NAME}'" not in conf.read_text():
        raise ReplicaSetupError(f"{directory} is not a replica made by core.local_replica")
    port = int(conf.read_text().split("port = ", 1)[1].split()[0])
    auto_conf = (directory / "postgresql.auto.conf").read_text()
    slot = auto_conf.split("primary_slot_name = '", 1)[-1].split("'")[0]
    slot = slot if slot.startswith(SLOT_PREFIX) else ""
    LocalReplica(data_dir=directory, port=port, primary=primary, slot=slot).destroy()
    return True


def _primary_execute(primary: Primary, sql: str, *params: Any) -> list[Any]:
    with psycopg.connect(primary.conninfo(), autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def _slot_drop(primary: Primary, slot: str) -> None:
    """Drop the slot once its walsender has gone (a moment after the standby stopped)."""
    drop = (
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
        " WHERE slot_name = %s AND NOT active"
    )
    _wait(
        lambda: (
            not _primary_execute(primary, drop, slot)
            and not _primary_execute(
                primary, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", slot
            )
        ),
        f"the primary to drop the replication slot {slot}",
    )


def _stale_slots_drop(primary: Primary) -> None:
    rows = _primary_execute(
        primary,
        "SELECT slot_name FROM pg_replication_slots WHERE NOT active AND slot_name LIKE %s",
        SLOT_PREFIX + "%",
    )
    for (slot,) in rows:
        created = slot.removeprefix(SLOT_PREFIX).split("_", 1)[0]
        if created.isdigit() and time.time() - int(created) > STALE_SLOT_SECONDS:
            _primary_execute(
                primary,
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = %s AND NOT active",
                slot,
            )


def _base_backup(primary: Primary, directory: Path, slot: str) -> None:
    _as_postgres(
        [
            str(PG_BIN / "pg_basebackup"),
            f"--dbname={primary.conninfo()}",
            f"--pgdata={directory}",
            # -R: standby.signal, primary_conninfo and primary_slot_name
            "--write-recovery-conf",
            "--wal-method=stream",
            f"--slot={slot}",
            "--checkpoint=fast",
            "--no-sync",
            "--no-password",
        ],
        timeout=300,
    )


def _configure(replica: LocalReplica, limits: dict[str, str]) -> None:
    """The settings a copy of a Debian cluster lacks (its conf files live in /etc)."""
    directory = replica.data_dir
    lines = [
        f"port = {replica.port}",
        f"listen_addresses = '{LOOPBACK}'",
        f"unix_socket_directories = '{directory}'",
        "hot_standby = on",
        "hot_standby_feedback = on",  # a list read is not cancelled by the replay of a vacuum
        "shared_buffers = 32MB",
        "fsync = off",  # a disposable copy: a crash loses nothing that the primary lacks
        "logging_collector = off",
        "log_min_messages = warning",
        f"cluster_name = '{CLUSTER_NAME}'",
        *(f"{name} = {limits[name]}" for name in _COPIED_LIMITS),
    ]
    files = {
        "postgresql.conf": "\n".join(lines) + "\n",
        "pg_hba.conf": f"local all all trust\nhost all all {LOOPBACK}/32 trust\n",
        "pg_ident.conf": "",
    }
    for name, text in files.items():
        (directory / name).write_text(text)
    _own(directory)


# --- processes ------------------------------------------------------------------------------


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _own(directory: Path) -> None:
    """Give the tree to the postgres OS user when we are root (the server refuses root)."""
    if not _running_as_root():
        return
    for path in [directory, *directory.rglob("*")]:
        shutil.chown(path, "postgres", "postgres")


def _as_postgres(command: list[str], *, timeout: float, check: bool = True) -> Any:
    prefix = ["runuser", "-u", "postgres", "--"] if _running_as_root() else []
    result = subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
        [*prefix, *command], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise ReplicaSetupError(
            f"{Path(command[0]).name} failed ({result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def _pg_ctl(directory: Path, *args: str, check: bool = True) -> Any:
    return _as_postgres(
        [str(PG_BIN / "pg_ctl"), "-D", str(directory), *args], timeout=90, check=check
    )


def _kill_postmaster(directory: Path) -> None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((directory / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGQUIT)


def _wait(condition: Any, what: str, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(psycopg.OperationalError):
            if condition():
                return
        if time.monotonic() > deadline:
            raise ReplicaSetupError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)
