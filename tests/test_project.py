"""Project-level guarantees: production settings, migrations in step, a valid OpenAPI schema."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run in a fresh interpreter with only the given environment (plus PATH)."""
    clean_env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", **env}
    return subprocess.run(
        [PYTHON, *args], cwd=ROOT, env=clean_env, capture_output=True, text=True, timeout=120
    )


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        # Required outside development, like SECRET_KEY (config/settings.py).
        "AUDIT_FINGERPRINT_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "carebook.example.test",
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value != ""}


SETUP = ["-c", "import django; django.setup(); print('started')"]


class TestProductionSettings:
    def test_refuses_to_start_without_a_secret_key(self):
        result = run(SETUP, **production_env(SECRET_KEY=""))
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert "SECRET_KEY" in result.stderr

    @pytest.mark.parametrize(
        "key",
        [
            "too-short-key",
            "django-insecure-" + "x" * 60,  # Django's generated dev keys
        ],
    )
    def test_refuses_a_weak_secret_key(self, key):
        result = run(SETUP, **production_env(SECRET_KEY=key))
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr

    def test_refuses_the_benchmark_audit_off_switch(self):
        result = run(SETUP, **production_env(CAREBOOK_BENCH_AUDIT_OFF="1"))
        assert result.returncode != 0
        assert "CAREBOOK_BENCH_AUDIT_OFF" in result.stderr

    def test_refuses_debug_on(self):
        result = run(SETUP, **production_env(DEBUG="true"))
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr

    def test_starts_with_a_real_key_and_allowed_hosts(self):
        result = run(SETUP, **production_env())
        assert result.returncode == 0, result.stderr
        assert "started" in result.stdout

    def test_deploy_check_passes_without_warnings(self):
        result = run(
            ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **production_env()
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "no issues" in result.stdout

    def test_production_turns_on_the_transport_security_settings(self):
        code = (
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.ALLOWED_HOSTS)"
        )
        result = run(["-c", code], **production_env())
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [
            "False", "True", "True", "True", "True", "['carebook.example.test']"
        ]  # fmt: skip


@pytest.mark.django_db
def test_no_model_change_is_missing_a_migration():
    from django.core.management import call_command

    # makemigrations --check exits non-zero (SystemExit) when a migration is missing.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_openapi_schema_generates_and_validates(tmp_path):
    schema = tmp_path / "schema.yaml"
    result = run(
        ["manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(schema)],
        DJANGO_SETTINGS_MODULE="config.test_settings",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = schema.read_text()
    assert text.startswith("openapi: 3")
    assert "/api/v1/" in text
