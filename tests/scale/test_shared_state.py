"""The api keeps no state of its own: two separate processes share the login throttle
(DRF's cache, Redis) and the account lockout (django-axes' database handler).

Each "api process" is a fresh Python interpreter on the production settings module
(``config.settings``) that sends login requests through Django's full stack (middleware,
axes, DRF throttling) with the test client, against this test's database and cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection

from tests.factories import PASSWORD, PatientFactory

ROOT = Path(__file__).resolve().parents[2]
TOKEN_URL = "/api/v1/auth/token/"

SCRIPT = """
import json, sys
import django
django.setup()
from django.test import Client

email, ip, passwords = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
client = Client(HTTP_HOST="localhost", REMOTE_ADDR=ip)
answers = []
for password in passwords:
    response = client.post(
        "/api/v1/auth/token/", {"email": email, "password": password},
        content_type="application/json",
    )
    code = response.json().get("error", {}).get("code") if response.status_code >= 400 else None
    answers.append([response.status_code, code])
print(json.dumps(answers))
"""

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _redis_cache():
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("needs a Redis cache: set CACHE_URL=redis://…")


def _database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def api_process(email: str, ip: str, passwords: list[str], **env: str) -> list[list]:
    """Run ``passwords`` as login attempts in a new process; its (status, error code)s."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # Development secrets: an unset DJANGO_ENV means production rules (config/settings.py).
        "DJANGO_ENV": "development",
        "DATABASE_URL": _database_url(),
        # This test worker's own cache database (config/test_settings.py), not the shared one.
        "CACHE_URL": str(settings.CACHES["default"]["LOCATION"]),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "LOG_LEVEL": "ERROR",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, email, ip, json.dumps(passwords)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _client_ip() -> str:
    # A documentation address of its own per run: the throttle is keyed by client IP, and
    # parallel runs share the cache.
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}"


def test_two_processes_share_one_login_throttle():
    # given a limit of 4 auth requests a minute per client address
    limits = {"THROTTLE_AUTH_RATE": "4/min", "AXES_FAILURE_LIMIT": "50"}
    email, ip = f"nobody-{uuid.uuid4().hex}@example.test", _client_ip()

    # when one process sends 3 and another process sends 3 more from the same address
    first = api_process(email, ip, ["wrong"] * 3, **limits)
    second = api_process(email, ip, ["wrong"] * 3, **limits)

    # then the second process throttles from the 5th request on: it saw the first's count
    assert first == [[401, "authentication_failed"]] * 3
    assert second == [[401, "authentication_failed"], [429, "throttled"], [429, "throttled"]]


def test_two_processes_share_one_account_lockout():
    # given an account, a lockout after 3 failures, and no throttling in the way
    patient = PatientFactory()
    hasher = Argon2PasswordHasher()  # the production settings' hasher
    patient.password = hasher.encode(PASSWORD, hasher.salt())
    patient.save(update_fields=["password"])
    limits = {"THROTTLE_AUTH_RATE": "1000/min", "AXES_FAILURE_LIMIT": "3"}

    # when one process fails twice, and another fails once and then gives the right password
    first = api_process(patient.email, _client_ip(), ["wrong", "wrong"], **limits)
    second = api_process(patient.email, _client_ip(), ["wrong", PASSWORD], **limits)

    # then the third failure (in the second process) locks the account, for everyone
    assert first == [[401, "authentication_failed"]] * 2
    assert second == [[429, "account_locked"], [429, "account_locked"]]
    # and a third process with the right password (the lock is not in any one process)
    assert api_process(patient.email, _client_ip(), [PASSWORD], **limits) == [
        [429, "account_locked"]
    ]
