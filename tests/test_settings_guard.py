"""Secrets fail closed (issue #13, item 7): outside an explicit DJANGO_ENV of development
or test, Carebook refuses to start on a missing, short or development secret, with DEBUG
on, or under a DJANGO_ENV it does not know. Each case starts a fresh interpreter with a
controlled environment, as a real process start would."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = ["-c", "import django; django.setup(); print('started')"]
# Read the settings without importing the apps: what each secret resolved to.
SHOW = [
    "-c",
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DJANGO_ENV, s.DEBUG, s.SIMPLE_JWT['SIGNING_KEY'] == s.SECRET_KEY)",
]


def start(args: list[str], **env: str | None) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a fresh interpreter with only ``env`` (plus PATH), no .env surprises."""
    clean = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ALLOWED_HOSTS": "carebook.example.test",
        "LOG_LEVEL": "ERROR",
        # The audit keys are required outside development too (their own tests cover
        # them); here they are present so that each case tests one thing.
        "AUDIT_FINGERPRINT_KEY": AUDIT_KEY,
        "AUDIT_CHAIN_KEY": AUDIT_KEY[::-1],
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={key: value for key, value in clean.items() if value is not None},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refused(result: subprocess.CompletedProcess[str], *words: str) -> bool:
    return (
        result.returncode != 0
        and "ImproperlyConfigured" in result.stderr
        and all(word in result.stderr for word in words)
    )


def good_key() -> str:
    return secrets.token_urlsafe(50)


AUDIT_KEY = "k3Rv8Tq1Zp6Wm2Lx9Nb4Hc7Fd0Gs5Jy8Ue3Ai6Oo1Pr4Yt7Ew2Qz"

# A fixed random-looking tail keeps parametrized test ids stable (pytest-xdist).
RANDOM_TAIL = "q7Zr2Lx9Vb4Nw8Kc1Pd6Hs3Jm5Tf0Ug7Ye2Qa9Xo4Wi8Rn1Ek6"


STRICT_ENVS = [None, "production", "benchmark"]  # None: DJANGO_ENV not set at all


class TestOutsideDevelopment:
    @pytest.mark.parametrize("django_env", STRICT_ENVS)
    def test_a_missing_secret_key_refuses_to_start(self, django_env):
        # Given no SECRET_KEY, when the settings load, then they refuse and say which.
        env = {"DJANGO_ENV": django_env} if django_env else {}
        result = start(SETUP, **env)
        assert refused(result, "SECRET_KEY", "is not set"), result.stderr[-2000:]

    @pytest.mark.parametrize("django_env", STRICT_ENVS)
    @pytest.mark.parametrize(
        ("key", "problem"),
        [
            ("short-but-random-" + "a1B2c3", "too short"),
            ("django-insecure-carebook-local-development-only" + "x" * 10, "development"),
            ("django-insecure-" + RANDOM_TAIL, "development"),
            ("changeme-" + RANDOM_TAIL, "placeholder"),
            ("ab" * 40, "distinct characters"),
        ],
    )
    def test_a_weak_secret_key_refuses_to_start(self, django_env, key, problem):
        env = {"DJANGO_ENV": django_env} if django_env else {}
        result = start(SETUP, SECRET_KEY=key, **env)
        assert refused(result, "SECRET_KEY", problem), result.stderr[-2000:]
        assert key not in result.stderr  # the message never echoes a secret

    @pytest.mark.parametrize("django_env", STRICT_ENVS)
    def test_debug_on_refuses_to_start(self, django_env):
        env = {"DJANGO_ENV": django_env} if django_env else {}
        result = start(SETUP, SECRET_KEY=good_key(), DEBUG="true", **env)
        assert refused(result, "DEBUG"), result.stderr[-2000:]

    @pytest.mark.parametrize("django_env", ["staging", "prod", "Production", "dev", " "])
    def test_an_unknown_django_env_is_refused(self, django_env):
        result = start(SETUP, SECRET_KEY=good_key(), DJANGO_ENV=django_env)
        assert refused(result, "DJANGO_ENV"), result.stderr[-2000:]

    def test_unset_django_env_runs_with_production_rules(self):
        result = start(SHOW, SECRET_KEY=good_key())
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split()[-3:] == ["production", "False", "True"]

    @pytest.mark.parametrize("django_env", ["production", "benchmark"])
    def test_starts_with_real_secrets(self, django_env):
        result = start(SETUP, DJANGO_ENV=django_env, SECRET_KEY=good_key())
        assert result.returncode == 0, result.stderr[-2000:]
        assert "started" in result.stdout

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("JWT_SIGNING_KEY", "too-short-jwt-key"),
            ("JWT_SIGNING_KEY", "django-insecure-" + RANDOM_TAIL),
            ("SECRET_KEY_FALLBACKS", "old-but-short"),
            ("METRICS_BEARER_TOKEN", "tok3n"),
        ],
    )
    def test_the_other_secrets_follow_the_same_rule_when_set(self, name, value):
        result = start(SETUP, DJANGO_ENV="production", SECRET_KEY=good_key(), **{name: value})
        assert refused(result, name), result.stderr[-2000:]

    def test_jwts_are_signed_with_their_own_key_when_one_is_given(self):
        result = start(
            SHOW, DJANGO_ENV="production", SECRET_KEY=good_key(), JWT_SIGNING_KEY=good_key()
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split()[-1] == "False"


class TestDevelopmentAndTest:
    @pytest.mark.parametrize("django_env", ["development", "test"])
    def test_starts_on_the_built_in_development_secrets(self, django_env):
        result = start(SHOW, DJANGO_ENV=django_env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split()[-3:] == [django_env, "True", "True"]

    def test_the_test_settings_are_test_whatever_the_shell_says(self):
        result = start(SHOW, DJANGO_SETTINGS_MODULE="config.test_settings", DJANGO_ENV="production")
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split()[-3] == "test"

    def test_make_runs_the_local_targets_as_development(self):
        # `make run` with nothing in the environment must keep working: the Makefile
        # exports DJANGO_ENV=development unless the shell sets one.
        result = subprocess.run(
            ["make", "-s", "--no-print-directory", "-f", "-", "show"],
            input=(ROOT / "Makefile").read_text() + "\nshow:\n\t@echo $$DJANGO_ENV\n",
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.stdout.strip() == "development", result.stderr


def test_the_benchmark_and_the_image_build_use_settings_that_start():
    # benchmarks/run.py starts gunicorn with DJANGO_ENV=benchmark and its own environment;
    # the Dockerfile runs collectstatic as production with build-only values. Each must
    # carry every secret the settings require (no defaults from this test).
    from benchmarks.run import app_env

    no_defaults = {"AUDIT_FINGERPRINT_KEY": None, "AUDIT_CHAIN_KEY": None}
    result = start(SETUP, **{**no_defaults, **app_env()})
    assert result.returncode == 0, result.stderr[-2000:]

    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    build_step = dockerfile.split("RUN SECRET_KEY=", 1)[1].split("python manage.py")[0]
    build_env = dict(
        assignment.split("=", 1) for assignment in ("SECRET_KEY=" + build_step).split()
    )
    result = start(SETUP, **{**no_defaults, "DJANGO_ENV": "production", **build_env})
    assert result.returncode == 0, result.stderr[-2000:]
