"""Per-request cost of the benchmark's read paths, in one process, without an HTTP server.

    .venv/bin/python -m benchmarks.inprocess            # after `make bench` seeded the data
    .venv/bin/python -m benchmarks.inprocess --profile free_slots

Calls the WSGI application directly with the inputs `make bench` wrote to
benchmarks/.work/ (the seeded `carebook_bench` database, its JWTs), in the benchmark's
settings, and prints wall and CPU milliseconds per request (best of five rounds).
A development tool for comparing changes: no concurrency, no gunicorn, no wrk.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.run import WORK, app_env

KINDS = ("bare", "free_slots", "my_appointments", "agenda")


def wsgi_caller() -> Callable[[str, str], tuple[str, bytes]]:
    os.environ.update(app_env())
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()

    def call(path: str, token: str) -> tuple[str, bytes]:
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8811", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr, "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
        }  # fmt: skip
        status: list[str] = []

        def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(line)

        body = b"".join(app(environ, start_response))
        return status[0], body

    return call


def request_for(kind: str, line: list[str]) -> tuple[str, str]:
    patient, clinician_token, clinician, start, end = line
    if kind == "free_slots":
        query = f"clinician={clinician}&from={start}&to={end}&status=open"
        return f"/api/v1/availability/?{query}", patient
    if kind == "my_appointments":
        return "/api/v1/appointments/", patient
    if kind == "agenda":
        return (
            f"/api/v1/clinicians/{clinician}/appointments/?from={start}&to={end}",
            clinician_token,
        )
    return "/healthz", patient


def measure(kind: str, requests: int, profile: bool) -> None:
    call = wsgi_caller()
    lines = [line.split() for line in (WORK / "reads.txt").read_text().splitlines() if line]
    for i in range(20):  # warm up: imports, connection, prepared statements
        call(*request_for(kind, lines[i % len(lines)]))
    gc.freeze()  # as config/gunicorn_conf.py does once a worker has loaded the app
    profiler = cProfile.Profile() if profile else None
    best_wall = best_cpu = float("inf")
    for _ in range(1 if profile else 5):
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for i in range(requests):
            status, _ = call(*request_for(kind, lines[(i + 20) % len(lines)]))
        if profiler:
            profiler.disable()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(
        f"{kind:16} {status:8} {best_wall / requests * 1000:6.2f} ms wall "
        f"{best_cpu / requests * 1000:6.2f} ms CPU per request"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kinds", nargs="*", help=f"some of {', '.join(KINDS)} (default: all)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile one round")
    options = parser.parse_args()
    unknown = set(options.kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    if not (WORK / "reads.txt").exists():
        sys.exit("Run `make bench` once first: it seeds carebook_bench and writes the inputs.")
    for kind in options.kinds or KINDS:
        measure(kind, options.requests, options.profile)


if __name__ == "__main__":
    main()
