"""`make bench`: Carebook's figures beside their ceilings, measured in one run.

Starts what it needs on loopback (gunicorn with N workers on PostgreSQL and Redis),
loads realistic data (benchmarks/seed.py), drives it with wrk (Lua scripts in
benchmarks/lua/), and compares every figure with the ceilings measured in the same
run: a bare Django view (/healthz) through the same gunicorn, and pgbench against the
same PostgreSQL. Prints a table and writes benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import cancel_offer

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
WORK = BENCH / ".work"
PYTHON = sys.executable
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
DB_NAME = "carebook_bench"
# The benchmark's own Redis databases (broker, cache): emptied at the start of each run.
BROKER_DB, CACHE_DB = 14, 15
PORT = int(os.environ.get("BENCH_PORT", 8811))
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", 4))
# gunicorn's default (sync) worker, as docker-compose.yml and `make serve` run it.
WORKER_CLASS = os.environ.get("BENCH_GUNICORN_WORKER_CLASS", "sync")
THREADS_PER_WORKER = int(os.environ.get("BENCH_GUNICORN_THREADS", 1))
DURATION = int(os.environ.get("BENCH_SECONDS", 8))
WRK_THREADS = 2
SERIES_COUNT = 4  # occurrences per series request (benchmarks/seed.py seeds that many weeks)
# BENCH_SCALE=10: after the run at the default size, grow the data tenfold
# (benchmarks/grow.py) and measure the reads, the booking and the admin again (issue #19).
SCALE = int(os.environ.get("BENCH_SCALE", 1))
ADMIN_LISTS = {
    "appointments": "/admin/scheduling/appointment/",
    "slots": "/admin/scheduling/slot/",
    "audit_events": "/admin/audit/auditevent/",
}
ADMIN_CONNECTIONS = 4


def app_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        # Production-like (DEBUG off, no query log) but not "production": that mode
        # refuses the audit-off baseline switch.
        DJANGO_ENV="benchmark",
        DEBUG="false",
        SECRET_KEY=SECRET_KEY,
        # Required outside development (config/settings.py); derived from the run's key so
        # a seeded database's audit chain and fingerprints stay comparable across runs.
        AUDIT_FINGERPRINT_KEY=derived_key("audit-fingerprint"),
        AUDIT_CHAIN_KEY=derived_key("audit-chain"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"{PG}/{DB_NAME}",
        CONN_MAX_AGE="60",
        # As docker-compose.yml runs the api: connected straight to PostgreSQL (no
        # PgBouncer), so repeated queries are prepared once per connection.
        DATABASE_PREPARE_THRESHOLD="5",
        CELERY_BROKER_URL=f"{REDIS}/{BROKER_DB}",
        CACHE_URL=f"{REDIS}/{CACHE_DB}",
        JWT_ACCESS_MINUTES="240",
        THROTTLE_AUTH_RATE="100000/min",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def bench_secret_key() -> str:
    """One random key per seeded database: the seeded JWTs must verify on later runs."""
    path = WORK / "secret_key.txt"
    if not path.exists():
        WORK.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = bench_secret_key()


def derived_key(purpose: str) -> str:
    return hashlib.sha256(f"{purpose}:{SECRET_KEY}".encode()).hexdigest()


def sh(cmd: list[str], env: dict[str, str] | None = None, **kw: Any) -> str:
    result = subprocess.run(
        cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False, **kw
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def psql(sql: str, db: str = "postgres") -> None:
    sh(["psql", f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-qc", sql])


def clear_redis() -> None:
    """No worker runs here, so each run leaves its bookings' outbox deliveries queued in
    the broker database (about 25,000); the next run starts from an empty one again."""
    import redis

    for db in (BROKER_DB, CACHE_DB):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()


def prepare_database() -> None:
    psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB_NAME}")
    sh([PYTHON, "manage.py", "migrate", "--noinput"], env=app_env())
    started = time.monotonic()
    sh([PYTHON, "-m", "benchmarks.seed"], env=app_env())
    sh([PYTHON, "-m", "benchmarks.grow", "1"], env=app_env())  # history, admin session
    print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)


def grow(scale: int) -> float:
    """Grows the seeded database to ``scale`` times its rows; returns the seconds taken."""
    started = time.monotonic()
    out = sh([PYTHON, "-m", "benchmarks.grow", str(scale)], env=app_env())
    for line in out.splitlines():
        if line.startswith(("  ", "grown")):  # its phases' seconds, then the row counts
            print(f"  {line.strip()}", flush=True)
    return round(time.monotonic() - started, 1)


def run_admin_scenarios(results: dict[str, Any], suffix: str = "") -> None:
    """The admin change lists of appointments, slots and audit events, as a staff member
    logged in reads their first page."""
    cookie = lines("admin_cookie")
    with gunicorn() as server:
        wrk("admin.lua", ADMIN_CONNECTIONS, cookie, "/admin/", seconds=2)  # warm-up
        for name, path in ADMIN_LISTS.items():
            results[f"admin_{name}_c{ADMIN_CONNECTIONS}{suffix}"] = wrk(
                "admin.lua", ADMIN_CONNECTIONS, cookie, path, server=server
            )


def run_scaled_scenarios(results: dict[str, Any], scale: int) -> None:
    """The reads and the booking at ``scale`` times the rows, beside the same run's 1x:
    the same requests on people and slots of the grown database."""
    suffix = f"_x{scale}"
    with gunicorn() as server:
        wrk("bare.lua", 16, seconds=3)  # warm-up: imports, connections
        for c in (4, 16):
            for kind in ("free_slots", "my_appointments", "agenda"):
                results[f"read_{kind}_c{c}{suffix}"] = wrk(
                    "reads.lua", c, lines(f"reads{suffix}"), "2", kind, server=server
                )
            results[f"booking_c{c}{suffix}"] = wrk(
                "booking.lua", c, lines(f"book_c{c}{suffix}"), "2", server=server
            )
    run_admin_scenarios(results, suffix)


@contextmanager
def gunicorn(**extra_env: str) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [
        PYTHON, "-m", "gunicorn", "config.wsgi:application",
        "--config", "config/gunicorn_conf.py",  # as docker-compose.yml and `make serve`
        "--bind", f"127.0.0.1:{PORT}", "--workers", str(WORKERS),
        "--worker-class", WORKER_CLASS, "--threads", str(THREADS_PER_WORKER),
        "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=app_env(**extra_env))
    try:
        wait_until_up(f"http://127.0.0.1:{PORT}/healthz")
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback only)
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not come up at {url}")


def wrk(
    scenario: str,
    connections: int,
    *args: str,
    seconds: int = DURATION,
    server: subprocess.Popen[bytes] | None = None,
) -> dict[str, Any]:
    """One wrk run; with ``server`` (gunicorn's master) also the CPU seconds its processes
    and PostgreSQL's spent during the run (``app_cpu_s``, ``db_cpu_s``), where Linux's
    /proc tells them (the report shows "-" elsewhere)."""
    script = WORK / f"{scenario}.lua"
    script.write_text(
        (BENCH / "lua" / "report.lua").read_text() + (BENCH / "lua" / scenario).read_text()
    )
    cmd = [
        "wrk", "-t", str(min(WRK_THREADS, connections)), "-c", str(connections),
        "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script),
        f"http://127.0.0.1:{PORT}", "--", *args,
    ]  # fmt: skip
    measure_cpu = server is not None and Path("/proc/self/stat").exists()  # Linux only
    before = cpu_seconds(server) if server and measure_cpu else None
    db_before = bench_backend_ticks() if measure_cpu else {}
    out = sh(cmd)
    after = cpu_seconds(server) if server and measure_cpu else None
    db_after = bench_backend_ticks() if measure_cpu else {}
    match = re.search(r"^BENCH_JSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    if before and after:
        result["app_cpu_s"] = round(after[0] - before[0], 2)
        # The benchmark database's own backends only: the machine's other databases
        # (tests running beside the benchmark) are not this run's cost (issue #19).
        result["db_cpu_s"] = round(ticks_between(db_before, db_after), 2)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["5xx"] = sum(v for k, v in result["statuses"].items() if k.startswith("5"))
    return result


def cpu_seconds(server: subprocess.Popen[bytes]) -> tuple[float, float]:
    """CPU seconds (user + system) so far of gunicorn (master and workers) and of
    PostgreSQL (postmaster and backends), read from Linux's /proc. Each side counts its
    root process's reaped children too, so a backend that closes during a run (Django
    reconnects after CONN_MAX_AGE) keeps its share."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    app = _ticks([server.pid, *map(int, children)], root=server.pid)
    db_pids = [
        int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _comm(pid) == "postgres"
    ]
    postmaster = next((pid for pid in db_pids if _comm(str(_parent(pid))) != "postgres"), None)
    db = _ticks(db_pids, root=postmaster)
    tick = os.sysconf("SC_CLK_TCK")
    return app / tick, db / tick


def bench_backend_ticks() -> dict[int, int]:
    """CPU ticks so far of each PostgreSQL backend connected to the benchmark database
    (its process title names the database: "postgres: user carebook_bench …")."""
    out = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and _comm(pid) == "postgres" and f" {DB_NAME} " in _title(pid):
            fields = _stat(int(pid))
            if fields:
                out[int(pid)] = int(fields[11]) + int(fields[12])
    return out


def ticks_between(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds the backends spent between two snapshots (one that closed meanwhile
    loses its share since the first; one that opened counts whole)."""
    ticks = sum(now - before.get(pid, 0) for pid, now in after.items())
    return ticks / os.sysconf("SC_CLK_TCK")


def _title(pid: str) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:  # gone meanwhile
        return ""


def _ticks(pids: list[int], *, root: int | None) -> int:
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
            if pid == root:
                total += int(fields[13]) + int(fields[14])  # its reaped children's
    return total


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return []


def _parent(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if fields else 0


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:  # gone meanwhile
        return ""


def pgbench(connections: int) -> dict[str, float]:
    out = sh([
        "pgbench", "-S", "-n", "-c", str(connections), "-j", "2", "-T", str(DURATION),
        f"{PG}/carebook_pgbench",
    ])  # fmt: skip
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))  # type: ignore[union-attr]
    return {"tps": tps, "latency_avg_ms": latency}


def prepare_pgbench() -> None:
    psql("DROP DATABASE IF EXISTS carebook_pgbench WITH (FORCE)")
    psql("CREATE DATABASE carebook_pgbench")
    sh(["pgbench", "-i", "-q", "-s", "10", f"{PG}/carebook_pgbench"])


def count_of(sql: str) -> int:
    """One number from the benchmark database."""
    return int(sh(["psql", f"{PG}/{DB_NAME}", "-tAc", sql]).strip())


# The live appointments of each slot, beside the slot's capacity.
_HELD = (
    "SELECT a.slot_id, s.capacity, count(*) AS held FROM scheduling_appointment a "
    "JOIN scheduling_slot s ON s.id = a.slot_id WHERE a.status <> 'cancelled' "
    "GROUP BY a.slot_id, s.capacity"
)


def double_bookings() -> int:
    """One-seat slots held by more than one live appointment."""
    return count_of(f"SELECT count(*) FROM ({_HELD}) AS h WHERE capacity = 1 AND held > 1")


def over_capacity() -> int:
    """Slots (group sessions included) with more live appointments than seats."""
    return count_of(f"SELECT count(*) FROM ({_HELD}) AS h WHERE held > capacity")


def partial_series() -> int:
    """Series (booked with on_conflict=fail, none cancelled here) whose live appointments
    are not exactly their count: a series is whole or absent."""
    return count_of(
        "SELECT count(*) FROM scheduling_appointmentseries s WHERE s.count <> ("
        "SELECT count(*) FROM scheduling_appointment a "
        "WHERE a.series_id = s.id AND a.status <> 'cancelled')"
    )


def group_slots_full() -> int:
    """Group slots the storm filled to the last seat: the storm raced for real seats."""
    return count_of(f"SELECT count(*) FROM ({_HELD}) AS h WHERE capacity > 1 AND held = capacity")


def lines(name: str) -> str:
    return str(WORK / f"{name}.txt")


def run_app_scenarios(results: dict[str, Any]) -> None:
    hot_slot = (WORK / "hot_slot.txt").read_text().strip()
    with gunicorn() as server:
        wrk("bare.lua", 16, seconds=3)  # warm-up: imports, connections
        for c in (4, 16):
            results[f"bare_c{c}"] = wrk("bare.lua", c, server=server)
            # fhir_free_slots: free_slots' read through FHIR, right after it (issue #17)
            for kind in ("free_slots", "fhir_free_slots", "my_appointments", "agenda"):
                results[f"read_{kind}_c{c}"] = wrk(
                    "reads.lua", c, lines("reads"), "2", kind, server=server
                )
            results[f"booking_c{c}"] = wrk(
                "booking.lua", c, lines(f"book_c{c}"), "2", server=server
            )
            # A weekly series of SERIES_COUNT: one request books that many appointments.
            results[f"series_c{c}"] = wrk(
                "series.lua", c, lines(f"series_c{c}"), "2", str(SERIES_COUNT), server=server
            )
        results["booking_losers_c16"] = wrk(
            "booking.lua", 16, lines("book_c4"), "2", hot_slot, server=server
        )
        # 16 connections asking for seats of capacity-8 group slots, ten asks per slot in a
        # row: eight 201, then 409 slot_full, under real contention for the same rows.
        results["group_storm_c16"] = wrk("booking.lua", 16, lines("group_c16"), "2", server=server)
    # Audit on and off, interleaved three times: run-to-run noise on a small machine
    # (±15 %) is of the order of the difference measured, so each side merges three runs.
    # Each side's 6,000 input lines split over wrk's 2 threads; a round starts 1,000 lines
    # further into each thread's 3,000, past what the round before could book (~700).
    rounds: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    for offset in ("0", "1000", "2000"):
        for side, env in (("on", {}), ("off", {"CAREBOOK_BENCH_AUDIT_OFF": "1"})):
            inputs = lines("book_audit" if side == "on" else "book_noaudit")
            with gunicorn(**env) as server:
                wrk("bare.lua", 16, seconds=2)
                rounds[side].append(wrk("booking.lua", 16, inputs, "2", "-", offset, server=server))
    results["booking_audit_on_c16"] = merged(rounds["on"])
    results["booking_audit_off_c16"] = merged(rounds["off"])


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests and statuses summed; latency percentiles averaged over the runs."""
    out: dict[str, Any] = {"requests": sum(r["requests"] for r in runs)}
    out["duration_us"] = sum(r["duration_us"] for r in runs)
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    for key in ("p50_us", "p95_us", "p99_us", "mean_us"):
        out[key] = sum(r[key] for r in runs) / len(runs)
    statuses: dict[str, int] = {}
    for run in runs:
        for code, count in run["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    out["statuses"] = statuses
    out["5xx"] = sum(r["5xx"] for r in runs)
    for key in ("app_cpu_s", "db_cpu_s"):
        out[key] = round(sum(r.get(key, 0.0) for r in runs), 2)
    out["runs"] = len(runs)
    return out


# What the benchmark runs besides Python, and the Debian package that brings each.
TOOLS = {"wrk": "wrk", "pgbench": "postgresql", "psql": "postgresql-client"}


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def preflight() -> None:
    """Say what is missing and how to get it, instead of failing with a traceback."""
    problems = []
    missing = missing_tools()
    if missing:
        packages = " ".join(sorted({TOOLS[tool] for tool in missing}))
        problems.append(
            f"missing {', '.join(missing)}: run `make bench-deps` (apt-get install {packages})"
        )
    if shutil.which("psql") and not reachable_postgres():
        problems.append(f"PostgreSQL is not reachable at {PG} (set BENCH_PG)")
    if not reachable_redis():
        problems.append(f"Redis is not reachable at {REDIS} (set BENCH_REDIS)")
    if problems:
        raise SystemExit("make bench needs:\n  - " + "\n  - ".join(problems))


def reachable_postgres() -> bool:
    probe = [
        "psql", f"{PG}/postgres", "-tAc", "SELECT 1",
    ]  # fmt: skip
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def reachable_redis() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--skip-seed",
        action="store_true",
        help="reuse the last seeded database (reads only: its booking inputs are spent)",
    )
    options = parser.parse_args()
    preflight()
    WORK.mkdir(exist_ok=True)
    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": machine(),
        "gunicorn": {"class": WORKER_CLASS, "workers": WORKERS, "threads": THREADS_PER_WORKER},
    }
    clear_redis()
    if not options.skip_seed:
        print("== seeding PostgreSQL", flush=True)
        prepare_database()
    print("== pgbench ceiling", flush=True)
    prepare_pgbench()
    results["pgbench_c4"] = pgbench(4)
    results["pgbench_c16"] = pgbench(16)
    print("== API scenarios through gunicorn", flush=True)
    run_app_scenarios(results)
    print("== cancel -> offer (benchmarks/cancel_offer.py)", flush=True)
    cancel_offer.run_scenarios(results)
    run_admin_scenarios(results)
    # The import's figures do not depend on the data's size; a BENCH_SCALE run spends its
    # minutes on the growth and the second measurement instead (20 minutes in all).
    if SCALE == 1:
        results["import"] = import_ratio()
    if SCALE > 1:
        print(f"== growing the data to {SCALE}x and measuring again", flush=True)
        results["scale"] = {"factor": SCALE, "grow_s": grow(SCALE)}
        run_scaled_scenarios(results, SCALE)
    results["double_bookings"] = double_bookings()
    results["over_capacity"] = over_capacity()
    results["group_slots_full"] = group_slots_full()
    results["partial_series"] = partial_series()
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    (BENCH / "results.json").write_text(json.dumps(results, indent=2))
    from benchmarks.report import print_report

    ok = print_report(results)
    sys.exit(0 if ok else 1)


def import_ratio() -> dict[str, Any] | None:
    script = BENCH / "import_throughput.py"
    if not script.exists():
        return None
    out = sh([PYTHON, str(script), "--json", "--repeat", "2"], env=app_env())
    match = re.search(r"^BENCH_JSON (.*)$", out, re.MULTILINE)
    return json.loads(match.group(1)) if match else {"raw": out[-2000:]}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "postgres": sh(["psql", f"{PG}/postgres", "-tAc", "SHOW server_version"]).strip(),
    }


if __name__ == "__main__":
    main()
