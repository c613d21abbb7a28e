"""Per-request cost of the benchmark's read paths and of a booking, in one process,
without an HTTP server.

    .venv/bin/python -m benchmarks.inprocess            # after `make bench` seeded the data
    .venv/bin/python -m benchmarks.inprocess --profile free_slots
    .venv/bin/python -m benchmarks.inprocess agenda --off compiled_lists
    .venv/bin/python -m benchmarks.inprocess --compare 5 --off pg_loader agenda

Calls the WSGI application directly with the inputs `make bench` wrote to
benchmarks/.work/ (the seeded `carebook_bench` database, its JWTs), in the benchmark's
settings, and prints wall and CPU milliseconds per request (best of five rounds).
A development tool for comparing changes: no concurrency, no gunicorn, no wrk.

``--off PIECE`` runs with one piece of the performance layer replaced by the plain
Django path it stands in for (``PIECES`` below; docs/performance.md has the figures).
``--compare N`` runs N alternating pairs of processes, one with the pieces on and one
with them off, and prints each side's median CPU per request: the machine may be
shared, so only a comparison made close together in time means anything.

The booking scenario books fresh open slots (each request a different patient and a new
Idempotency-Key) and, after each round, cancels its appointments and reopens the slots:
the seeded database keeps its open slots (its appointments table grows by the cancelled
rows, which the next `make bench` drops with the database).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from benchmarks.run import WORK, app_env

READS = ("bare", "free_slots", "fhir_free_slots", "my_appointments", "agenda")
KINDS = (*READS, "booking")
BOOKING_REQUESTS = 200  # per round; fresh slots are the limit, not the time

Call = Callable[..., tuple[str, bytes]]


def wsgi_caller(env: dict[str, str]) -> Call:
    os.environ.update(app_env(**env))
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()

    def call(path: str, token: str, method: str = "GET", body: bytes = b"", **headers: str):
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8811", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
            "wsgi.errors": sys.stderr, "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
        }  # fmt: skip
        if body:
            environ["CONTENT_TYPE"] = "application/json"
        status: list[str] = []

        def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(line)

        answer = b"".join(app(environ, start_response))
        return status[0], answer

    return call


def request_for(kind: str, line: list[str]) -> tuple[str, str]:
    patient, clinician_token, clinician, start, end = line
    if kind == "free_slots":
        query = f"clinician={clinician}&from={start}&to={end}&status=open"
        return f"/api/v1/availability/?{query}", patient
    if kind == "fhir_free_slots":  # the same read through FHIR (benchmarks/lua/reads.lua)
        query = f"schedule=Schedule/{clinician}&status=free&start=ge{start}&start=lt{end}"
        return f"/fhir/R4/Slot?{query}&_count=50", patient
    if kind == "my_appointments":
        return "/api/v1/appointments/", patient
    if kind == "agenda":
        return (
            f"/api/v1/clinicians/{clinician}/appointments/?from={start}&to={end}",
            clinician_token,
        )
    return "/healthz", patient


# --- the pieces of the performance layer, and the plain path each stands in for -------


def _everywhere(original: Any, replacement: Any, *, only: str | None = None) -> None:
    """Replace ``original`` in every loaded module of the project that imported it by name
    (``only``: in that module alone)."""
    for name, module in list(sys.modules.items()):
        if only is not None and name != only:
            continue
        if name.split(".")[0] in {"accounts", "core", "scheduling", "consultations", "audit"}:
            for attribute, value in list(vars(module).items()):
                if value is original:
                    mock.patch.object(module, attribute, replacement).start()


def _orm_row(build: Any, value: Any, *, alias: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = build(value).using(alias).first()
    return row


def _off_compiled_lists() -> None:
    from core.sql import CompiledRows

    mock.patch.object(CompiledRows, "_statement", return_value=None).start()


def _off_pg_loader() -> None:
    from core.postgresql import base

    mock.patch.object(base, "adapters_with_fast_loader", lambda template, zone: template).start()


def _off_utc_times() -> None:
    from core import serialization
    from core.lists import CompiledListMixin

    def as_text(zone: Any = None) -> Callable[[Any], str | None]:
        return lambda value: serialization.api_datetime(value, zone)

    mock.patch.object(CompiledListMixin, "output_times_are_utc", False).start()
    _everywhere(serialization.api_datetime_writer, as_text)


def _off_orjson() -> None:
    from rest_framework.renderers import JSONRenderer

    from core.renderers import FastJSONRenderer

    mock.patch.object(FastJSONRenderer, "render", JSONRenderer.render).start()


def _off_slot_lock_row() -> None:
    from core.sql import one_row

    _everywhere(one_row, _orm_row, only="scheduling.lock_objects")


def _off_insert_row() -> None:
    from core.sql import insert_row

    def save(instance: Any, fields: Any) -> None:
        instance.save(force_insert=True)

    _everywhere(insert_row, save)


def _off_update_row() -> None:
    from core.sql import update_row

    def save(instance: Any, fields: Any) -> None:
        instance.save(update_fields=fields)

    _everywhere(update_row, save)


def _off_outbox_batches() -> None:
    from core import outbox
    from core.broker import send_task_soon

    def one_publish_each(event_id: str) -> None:
        send_task_soon(outbox.DELIVER_TASK_NAME, (event_id,))

    mock.patch.object(outbox, "_deliver_soon", one_publish_each).start()


def _whole_chain(request: Any) -> bool:
    return False


def _off_lean_api() -> None:
    from core import middleware

    # a plain function: a mock's call would cost more than what is measured
    mock.patch.object(middleware, "is_bearer_api_call", _whole_chain).start()


def _off_together() -> None:
    from contextlib import nullcontext

    from scheduling.services import booking

    mock.patch.object(booking, "statements_together", nullcontext).start()


PIECES: dict[str, Callable[[], None]] = {
    "compiled_lists": _off_compiled_lists,
    "pg_loader": _off_pg_loader,
    "utc_times": _off_utc_times,
    "orjson": _off_orjson,
    "slot_lock_row": _off_slot_lock_row,
    "insert_row": _off_insert_row,
    "update_row": _off_update_row,
    "outbox_batches": _off_outbox_batches,
    "lean_api": _off_lean_api,
    "together": _off_together,
}


def turn_off(pieces: list[str]) -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view and service first
    for piece in pieces:
        PIECES[piece]()


# --- the scenarios ----------------------------------------------------------------------


def reads(kind: str, call: Call) -> Iterator[Callable[[int], str]]:
    lines = [line.split() for line in (WORK / "reads.txt").read_text().splitlines() if line]

    def one(i: int) -> str:
        return call(*request_for(kind, lines[i % len(lines)]))[0]

    while True:
        yield one


def bookings(call: Call) -> Iterator[Callable[[int], str]]:
    """Per round, a booking function over fresh slots; between rounds the bookings are
    cancelled and their slots reopened (outside the measured time)."""
    from benchmarks.seed import token
    from scheduling.models import Appointment, Slot

    slots, patients = _booking_inputs(BOOKING_REQUESTS + 20)
    tokens = [token(patient) for patient in patients]

    def one(i: int) -> str:
        body = json.dumps({"slot": slots[i], "reason": "inprocess"}).encode()
        key = f"inprocess-{uuid.uuid4()}"
        return call("/api/v1/appointments/", tokens[i], "POST", body, IDEMPOTENCY_KEY=key)[0]

    while True:
        yield one
        Appointment.objects.filter(slot_id__in=slots, reason="inprocess").exclude(
            status=Appointment.Status.CANCELLED
        ).update(status=Appointment.Status.CANCELLED)
        Slot.objects.filter(pk__in=slots).update(status=Slot.Status.OPEN, seats_taken=0)


def _booking_inputs(count: int) -> tuple[list[int], list[int]]:
    """Open slots days ahead, and patients with no active appointment."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Role, User
    from scheduling.models import Appointment, Slot

    soon = timezone.now() + timedelta(days=2)
    open_slots = Slot.objects.filter(
        status=Slot.Status.OPEN, capacity=1, seats_taken=0, start__gte=soon
    )
    slots = list(open_slots.order_by("pk").values_list("pk", flat=True)[:count])
    active = Appointment.objects.filter(
        status__in=(Appointment.Status.SCHEDULED, Appointment.Status.CONFIRMED)
    ).values("patient_id")
    free = User.objects.filter(role=Role.PATIENT, is_active=True).exclude(pk__in=active)
    patients = list(free.order_by("pk").values_list("pk", flat=True)[:count])
    if min(len(slots), len(patients)) < count:
        sys.exit("Not enough open slots or free patients: run `make bench` again.")
    return slots, patients


def measure(kind: str, requests: int, profile: bool, env: dict[str, str], off: list[str]):
    call = wsgi_caller(env)
    turn_off(off)
    rounds = bookings(call) if kind == "booking" else reads(kind, call)
    if kind == "booking":
        requests = min(requests, BOOKING_REQUESTS)
    warm = next(rounds)
    for i in range(20):  # warm up: imports, connection, prepared statements
        warm(requests + i)
    gc.freeze()  # as config/gunicorn_conf.py does once a worker has loaded the app
    profiler = cProfile.Profile() if profile else None
    best_wall = best_cpu = float("inf")
    statuses: set[str] = set()
    for _ in range(1 if profile else 5):
        one = next(rounds)
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for i in range(requests):
            statuses.add(one(i))
        if profiler:
            profiler.disable()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    next(rounds)  # the last round's bookings are cancelled too
    cpu_ms = best_cpu / requests * 1000
    print(
        f"{kind:16} {','.join(sorted(statuses)):8} {best_wall / requests * 1000:6.2f} ms wall "
        f"{cpu_ms:6.2f} ms CPU per request",
        flush=True,
    )
    if profiler:
        order = os.environ.get("PROFILE_SORT", "cumulative")
        rows = int(os.environ.get("PROFILE_ROWS", "40"))
        pstats.Stats(profiler).sort_stats(order).print_stats(rows)
    return cpu_ms


def compare(options: argparse.Namespace, kinds: list[str]) -> None:
    """``options.compare`` pairs of processes, on then off, alternating."""
    on: dict[str, list[float]] = {kind: [] for kind in kinds}
    off: dict[str, list[float]] = {kind: [] for kind in kinds}
    base = [sys.executable, "-m", "benchmarks.inprocess", "--json", *kinds]
    base += ["--requests", str(options.requests)]
    base += [f"--env={item}" for item in options.env]
    for _ in range(options.compare):
        for side, extra in ((on, []), (off, [f"--off={piece}" for piece in options.off])):
            output = subprocess.run([*base, *extra], capture_output=True, text=True, check=False)
            if output.returncode:
                sys.exit(f"{' '.join(base + extra)} failed:\n{output.stderr}")
            for kind, cpu_ms in json.loads(output.stdout.splitlines()[-1]).items():
                side[kind].append(cpu_ms)
    for kind in kinds:
        median_on, median_off = statistics.median(on[kind]), statistics.median(off[kind])
        print(
            f"{kind:16} off={'+'.join(options.off):28} on {median_on:6.3f} ms  "
            f"off {median_off:6.3f} ms  gain {1 - median_on / median_off:6.1%}  "
            f"(on {min(on[kind]):.3f}-{max(on[kind]):.3f}, "
            f"off {min(off[kind]):.3f}-{max(off[kind]):.3f})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", help=f"some of {', '.join(KINDS)} (default: reads)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile one round")
    parser.add_argument("--off", action="append", default=[], choices=sorted(PIECES))
    parser.add_argument("--compare", type=int, default=0, metavar="N")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="an environment override of the benchmark's (e.g. CELERY_BROKER_URL=…)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    unknown = set(options.kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    if not (WORK / "reads.txt").exists():
        sys.exit("Run `make bench` once first: it seeds carebook_bench and writes the inputs.")
    kinds = options.kinds or list(READS)
    if options.compare:
        compare(options, kinds)
        return
    env = dict(item.split("=", 1) for item in options.env)
    with _quiet(options.json):
        results = {
            kind: measure(kind, options.requests, options.profile, env, options.off)
            for kind in kinds
        }
    if options.json:
        print(json.dumps(results))


@contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    if not quiet:
        yield
        return
    stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    main()
