"""Booking races between OS processes: directly on PostgreSQL and through PgBouncer.

The race script (tests/process_race.py) runs in a subprocess against a database of its
own, so its 50 racer processes hit a real server exactly as gunicorn workers would. The
PgBouncer case starts Debian's pgbouncer in transaction pooling mode in front of the
same server: no session state (prepared statements, advisory locks across statements,
SET) may be relied on, and the race must still have exactly one winner.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
RACERS = 50
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

pytestmark = pytest.mark.postgres


def _server() -> dict:
    db = settings.DATABASES["default"]
    return {"host": db.get("HOST") or "127.0.0.1", "port": int(db.get("PORT") or 5432),
            "user": db.get("USER") or "postgres", "password": db.get("PASSWORD") or ""}  # fmt: skip


def _url(server: dict, name: str, port: int | None = None) -> str:
    auth = server["user"] + (f":{server['password']}" if server["password"] else "")
    return f"postgres://{auth}@{server['host']}:{port or server['port']}/{name}"


def _admin(server: dict, sql: str) -> None:
    with psycopg.connect(_url(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database_url: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_"))}
    return {**keep, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "ALLOWED_HOSTS": "testserver", "CONN_MAX_AGE": "0"}  # fmt: skip


@pytest.fixture(scope="module")
def race_db() -> Iterator[tuple[dict, str]]:
    server = _server()
    name = f"carebook_race_{uuid.uuid4().hex[:8]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT, env=_env(_url(server, name)), check=True, timeout=300,
        )  # fmt: skip
        yield server, name
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pgbouncer(race_db) -> Iterator[int]:
    server, name = race_db
    if not Path(PGBOUNCER).exists():
        pytest.fail("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)")
    # A directory of its own that the postgres user can read (pytest's tmp is 0700).
    workdir = Path(tempfile.mkdtemp(prefix="carebook-pgbouncer-"))
    workdir.chmod(0o777)
    port = _free_port()
    (workdir / "users.txt").write_text(f'"{server["user"]}" "{server["password"]}"\n')
    (workdir / "pgbouncer.ini").write_text(
        f"[databases]\n{name} = host={server['host']} port={server['port']} dbname={name}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 10\n"
        f"unix_socket_dir =\nlogfile = {workdir / 'pgbouncer.log'}\n"
    )
    for path in workdir.iterdir():
        path.chmod(0o666)
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"pgbouncer did not listen on {port}")


def _race(database_url: str, mode: str, capacity: int = 1) -> dict:
    command = ["--mode", mode, "--racers", str(RACERS), "--capacity", str(capacity)]
    result = subprocess.run(
        [sys.executable, "-m", "tests.process_race", *command],
        cwd=ROOT, env=_env(database_url), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["book", "reschedule"])
def test_fifty_processes_race_for_one_slot_on_postgres(race_db, mode):
    server, name = race_db

    outcome = _race(_url(server, name), mode)

    winner = "201 ok" if mode == "book" else "200 ok"
    assert outcome["outcomes"] == {winner: 1, "409 slot_unavailable": RACERS - 1}
    assert outcome["active_on_slot"] == 1


@pytest.mark.parametrize("mode", ["book", "reschedule"])
def test_fifty_processes_race_through_pgbouncer_in_transaction_mode(race_db, pgbouncer, mode):
    server, name = race_db

    outcome = _race(_url(server, name, port=pgbouncer), mode)

    winner = "201 ok" if mode == "book" else "200 ok"
    assert outcome["outcomes"] == {winner: 1, "409 slot_unavailable": RACERS - 1}
    assert outcome["active_on_slot"] == 1


def test_fifty_processes_post_fhir_appointments_for_one_slot(race_db):
    """#17: POST /fhir/R4/Appointment from 50 processes for one Slot: one 201, 49 times 409
    OperationOutcomes saying slot_unavailable, no 5xx, one appointment on the slot."""
    server, name = race_db

    outcome = _race(_url(server, name), "fhir")

    assert outcome["outcomes"] == {
        "201 ok": 1,
        "409 OperationOutcome slot_unavailable": RACERS - 1,
    }
    assert outcome["active_on_slot"] == 1


GROUP_CAPACITY = 8


@pytest.mark.parametrize("mode", ["book", "reschedule"])
def test_fifty_processes_race_for_the_eight_seats_of_a_group_slot(race_db, mode):
    """Exactly ``capacity`` winners, each on a seat of its own; every other racer a 409
    ``slot_full``; no 5xx. The slot ends full (booked) with its counter at the capacity."""
    server, name = race_db

    outcome = _race(_url(server, name), mode, capacity=GROUP_CAPACITY)

    winner = "201 ok" if mode == "book" else "200 ok"
    assert outcome["outcomes"] == {winner: GROUP_CAPACITY, "409 slot_full": RACERS - GROUP_CAPACITY}
    assert outcome["seats"] == list(range(1, GROUP_CAPACITY + 1))
    assert outcome["slot"] == {"status": "booked", "seats_taken": GROUP_CAPACITY}
