"""JSON logs: one object per line, with the request id in the request's lines and in
the lines of every Celery task the request started (a real worker on Redis)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from core.request_context import reset_request_id, set_request_id
from tests.factories import PatientFactory, StaffFactory
from tests.observability.helpers import REPO, WorkerProcess, lines_with, wait_for
from tests.observability.tasks import record_request_id

LOCAL = {"HTTP_HOST": "localhost"}


@pytest.mark.django_db
def test_request_lines_leave_out_the_query_string_and_trust_only_remote_addr(client_for, log_lines):
    # given a staff search by a person's email, sent with a forged X-Forwarded-For
    staff = StaffFactory()
    api = client_for(staff)
    # when
    api.get(
        "/api/v1/me/?search=alice.patient@example.org",
        HTTP_X_REQUEST_ID="req-privacy-0001",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
        REMOTE_ADDR="127.0.0.9",
        **LOCAL,
    )
    # then no line repeats the query, and the logged address is the connecting one
    lines = [line for line in log_lines.lines if "req-privacy-0001" in line]
    assert len(lines) >= 2
    assert not [line for line in lines if "alice" in line]
    for record in map(json.loads, lines):
        assert record["ip"] == "127.0.0.9"
        if "request" in record:
            assert record["request"] == "GET /api/v1/me/"


@pytest.mark.django_db
def test_a_refused_request_is_logged_once(client_for, log_lines):
    # given a patient asking for an appointment that is not theirs to see
    api = client_for(PatientFactory())
    # when
    response = api.get("/api/v1/appointments/987654/", HTTP_X_REQUEST_ID="req-4xx-0001", **LOCAL)
    # then one warning says so, with the request id; Django's own line does not repeat it
    assert response.status_code == 404
    records = log_lines.records()
    (finished,) = lines_with(records, event="request_finished", request_id="req-4xx-0001")
    assert (finished["level"], finished["code"]) == ("warning", 404)
    assert not [r for r in records if r["logger"] == "django.request"]


@pytest.fixture(scope="module")
def worker_process():
    """A real worker on the Redis broker, consuming only the probe queue."""
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs Redis: set CELERY_BROKER_URL=redis://…")
    worker = WorkerProcess()
    try:
        wait_for(worker.is_ready, seconds=60)
        yield worker
    finally:
        worker.stop()


@pytest.mark.django_db
def test_request_lines_carry_the_kept_request_id_and_user_id(client_for, log_lines):
    # given a signed-in patient (JWT)
    patient = PatientFactory()
    api = client_for(patient)
    # when
    response = api.get("/api/v1/me/", HTTP_X_REQUEST_ID="req-logs-0001", **LOCAL)
    # then every line of the request is JSON with the id; the finished line names the user
    assert response.status_code == 200
    records = log_lines.records()
    started = lines_with(records, event="request_started", request_id="req-logs-0001")
    finished = lines_with(records, event="request_finished", request_id="req-logs-0001")
    assert len(started) == 1
    assert len(finished) == 1
    assert finished[0]["user_id"] == patient.pk
    assert finished[0]["code"] == 200
    assert finished[0]["request"] == "GET /api/v1/me/"
    assert {"timestamp", "level", "logger"} <= finished[0].keys()


@pytest.mark.django_db
def test_a_malformed_incoming_id_is_replaced_in_the_logs_too(client, log_lines):
    # given an X-Request-ID that RequestIdMiddleware refuses (too short, bad characters)
    bad = "x y"
    # when
    response = client.get("/healthz", HTTP_X_REQUEST_ID=bad, **LOCAL)
    # then the logs carry the id the response carries, never the raw header
    kept = response["X-Request-ID"]
    assert kept != bad
    request_ids = {r.get("request_id") for r in log_lines.records() if "request" in r}
    assert request_ids == {kept}


@pytest.mark.redis
@pytest.mark.django_db
@pytest.mark.urls("tests.observability.urls")
def test_request_id_flows_into_the_celery_task_and_its_json_lines(
    worker_process, log_lines, client_for
):
    # given a patient signed in with a JWT and a running worker
    patient = PatientFactory()
    client = client_for(patient)
    # when a request with an X-Request-ID starts a task
    response = client.get(
        "/probe/", {"queue": worker_process.queue}, HTTP_X_REQUEST_ID="req-into-task-0001", **LOCAL
    )
    assert response.status_code == 200
    task_id = response.json()["task_id"]

    # then the web request's lines carry the id
    web = log_lines.records()
    assert lines_with(web, event="probe_view_ran", request_id="req-into-task-0001")
    assert lines_with(web, event="request_finished", request_id="req-into-task-0001")
    # and once DRF has authenticated the JWT, the request's lines name the user
    (after_start,) = lines_with(web, event="probe_task_started")
    assert after_start["user_id"] == patient.pk
    # (a publish that kombu retries on a stale connection logs its enqueue again)
    enqueued = lines_with(web, event="task_enqueued", child_task_id=task_id)
    assert enqueued
    assert {line["request_id"] for line in enqueued} == {"req-into-task-0001"}
    # and every line the worker wrote for the task carries it, with task id and name
    task_lines = worker_process.task_lines(task_id)
    assert {r["event"] for r in task_lines} >= {"task_started", "probe_task_ran", "task_succeeded"}
    for line in task_lines:
        assert line["request_id"] == "req-into-task-0001"
        assert line["task"] == record_request_id.name
        assert line["user_id"] == patient.pk
    # and core.request_context inside the task returns the request's id
    (ran,) = lines_with(task_lines, event="probe_task_ran")
    assert ran["seen_request_id"] == "req-into-task-0001"
    # and the success line says how long the task took
    (succeeded,) = lines_with(task_lines, event="task_succeeded")
    assert isinstance(succeeded["duration_ms"], int)
    assert succeeded["duration_ms"] >= 0


@pytest.mark.django_db
@pytest.mark.urls("tests.observability.urls")
def test_a_task_published_after_the_response_still_carries_the_request_id(
    worker_process, client_for
):
    # given a request that hands its task to the background publisher (as the outbox
    # and the audit sealer do after commit), so the publish happens on another thread
    client = client_for(PatientFactory())
    response = client.get(
        "/probe/",
        {"queue": worker_process.queue, "via": "soon"},
        HTTP_X_REQUEST_ID="req-soon-task-0001",
        **LOCAL,
    )
    assert response.status_code == 200
    # then the worker's lines for that task carry the request's id
    task_lines = worker_process.task_lines(response.json()["task_id"])
    (ran,) = lines_with(task_lines, event="probe_task_ran")
    assert ran["seen_request_id"] == "req-soon-task-0001"
    assert {line["request_id"] for line in task_lines} == {"req-soon-task-0001"}


@pytest.mark.redis
def test_a_task_started_outside_a_request_carries_the_context_id(worker_process):
    # given code outside any request that set core.request_context (a script, a service)
    token = set_request_id("script-run-0001")
    try:
        # when it starts a task
        result = record_request_id.apply_async(args=("script",), queue=worker_process.queue)
    finally:
        reset_request_id(token)
    # then the task sees that id, and a later task without one does not inherit it
    (ran,) = lines_with(worker_process.task_lines(result.id), event="probe_task_ran")
    assert ran["seen_request_id"] == "script-run-0001"
    assert ran["request_id"] == "script-run-0001"

    later = record_request_id.apply_async(args=("no-request",), queue=worker_process.queue)
    (ran_later,) = lines_with(worker_process.task_lines(later.id), event="probe_task_ran")
    assert ran_later["seen_request_id"] is None
    assert "request_id" not in ran_later


@pytest.mark.redis
def test_every_worker_stderr_line_is_one_json_object(worker_process):
    # given the worker has started and run tasks
    # then every line it wrote parses as one JSON object with the standard keys
    assert worker_process.lines
    for line in list(worker_process.lines):
        record = json.loads(line)
        assert {"event", "level", "logger", "timestamp"} <= record.keys()


def test_every_stderr_line_is_one_json_object():
    # given a fresh process configured by settings (Django and structlog loggers, an error)
    script = (
        "import django, logging, structlog; django.setup();"
        "logging.getLogger('django.request').error('plain %s record', 'stdlib');"
        "structlog.get_logger('carebook').info('structured', answer=42);"
        "\ntry:\n    1/0\nexcept ZeroDivisionError:\n"
        "    logging.getLogger('carebook').exception('failed')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"}
    env.pop("LOG_FORMAT", None)
    # when
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # then
    records = [json.loads(line) for line in run.stderr.splitlines()]
    events = {r["event"]: r for r in records}
    assert events["plain stdlib record"]["logger"] == "django.request"
    assert events["plain stdlib record"]["level"] == "error"
    assert events["structured"]["answer"] == 42
    assert "ZeroDivisionError" in events["failed"]["exception"]


def test_gunicorn_with_its_config_writes_only_json_lines(closed_port):
    # given gunicorn started the way production starts it, access log requested
    port = closed_port
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"}
    env.pop("LOG_FORMAT", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "-c",
            "config/gunicorn_conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--access-logfile",
            "-",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # when a request with an id and a query string comes in
        body = None
        deadline = time.monotonic() + 60
        while body is None and time.monotonic() < deadline:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/healthz?who=alice.patient@example.org",
                headers={"X-Request-ID": "req-gunicorn-0001", "Host": "localhost"},
            )
            try:
                # One request only: a slow first answer (Django loading) is waited for.
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    body = json.loads(response.read())
            except urllib.error.URLError as exc:
                if not isinstance(exc.reason, ConnectionRefusedError):
                    raise
                time.sleep(0.2)  # not listening yet
        assert body == {"status": "alive"}
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    # then every line gunicorn and Django wrote is one JSON object
    records = [json.loads(line) for line in output.splitlines()]
    assert any(r["logger"] == "gunicorn.error" for r in records)  # "Booting worker …"
    (finished,) = lines_with(records, event="request_finished", request_id="req-gunicorn-0001")
    assert finished["request"] == "GET /healthz"
    # and the query string appears nowhere (no plain access line either)
    assert "alice" not in output


GUNICORN_ACCESS_PROBE = """
import datetime, logging, runpy, types
from gunicorn.config import Config
conf = runpy.run_path("config/gunicorn_conf.py")
cfg = Config()
cfg.set("logconfig_dict", conf["logconfig_dict"])

class Counting(conf["logger_class"]):
    built = 0
    def atoms(self, *args):
        Counting.built += 1
        return super().atoms(*args)

log = Counting(cfg)
resp = types.SimpleNamespace(status="200 OK", response_length=2, sent=2, headers=[])
req = types.SimpleNamespace(headers=[], method="GET", path="/x", query="", version=(1, 1))
environ = {
    "REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET", "RAW_URI": "/x",
    "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/x", "QUERY_STRING": "",
}
log.access(resp, req, environ, datetime.timedelta(milliseconds=3))
print("dropped", Counting.built)
logging.getLogger("gunicorn.access").setLevel(logging.INFO)
log.access(resp, req, environ, datetime.timedelta(milliseconds=3))
print("wanted", Counting.built)
"""


def test_gunicorn_builds_an_access_line_only_when_it_is_written():
    # given gunicorn's logger as config/gunicorn_conf.py sets it up (gunicorn.access off)
    # when a request is logged with the access logger off, then with it on
    run = subprocess.run(
        [sys.executable, "-c", GUNICORN_ACCESS_PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # then the line's fields were built for the second request only
    assert run.stdout.split() == ["dropped", "0", "wanted", "1"]
