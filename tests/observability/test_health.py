"""/healthz and /readyz: outside /api/v1/, JSON, 503 naming the failing check."""

from __future__ import annotations

import time

import pytest
from django.db import connection, connections
from django.test import override_settings

from core.db import is_postgres

LOCAL = {"HTTP_HOST": "localhost"}


def test_healthz_answers_alive_without_touching_the_database(client):
    # given a running web process (no database access is allowed here: no django_db mark)
    # when
    response = client.get("/healthz", HTTP_X_REQUEST_ID="probe-healthz-0001", **LOCAL)
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert response["X-Request-ID"] == "probe-healthz-0001"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ready_when_database_and_broker_answer(client):
    # given the configured database and broker (filesystem broker or Redis) are up
    # when
    response = client.get("/readyz", **LOCAL)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_names_the_broker_when_it_cannot_be_reached(client, closed_port):
    # given a broker URL pointing at a port nothing listens on
    dead_broker = f"redis://127.0.0.1:{closed_port}/0"
    with override_settings(CELERY_BROKER_URL=dead_broker):
        # when
        started = time.monotonic()
        response = client.get("/readyz", HTTP_X_REQUEST_ID="probe-readyz-0001", **LOCAL)
        elapsed = time.monotonic() - started
    # then: 503 in the error envelope, the broker named, the database still fine
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["request_id"] == "probe-readyz-0001"
    assert error["details"]["failing"] == ["broker"]
    assert error["details"]["checks"]["broker"]["status"] == "unavailable"
    assert error["details"]["checks"]["database"]["status"] == "ok"
    assert "broker" in error["message"]
    # and the URL (which may carry a password) is not echoed
    assert str(closed_port) not in response.content.decode()
    # and a dead broker answers quickly
    assert elapsed < 3


@pytest.mark.django_db
def test_readyz_names_the_database_when_it_cannot_be_reached(client, monkeypatch, closed_port):
    # given new database connections go nowhere (the open test connection is untouched:
    # the check opens its own, in another thread)
    db_settings = connections.settings["default"]
    if is_postgres(connection):
        monkeypatch.setitem(db_settings, "HOST", "127.0.0.1")
        monkeypatch.setitem(db_settings, "PORT", str(closed_port))
    else:
        monkeypatch.setitem(db_settings, "NAME", "/nonexistent-carebook-dir/db.sqlite3")
    # when
    response = client.get("/readyz", **LOCAL)
    # then
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["details"]["failing"] == ["database"]
    assert error["details"]["checks"]["broker"]["status"] == "ok"
    assert "nonexistent" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_names_both_when_both_are_down(client, monkeypatch, closed_port):
    # given
    monkeypatch.setitem(connections.settings["default"], "NAME", "/nonexistent-carebook-dir/x")
    if is_postgres(connection):
        monkeypatch.setitem(connections.settings["default"], "PORT", str(closed_port))
    # when
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port}/0"):
        response = client.get("/readyz", **LOCAL)
    # then
    assert response.status_code == 503
    assert response.json()["error"]["details"]["failing"] == ["broker", "database"]


def test_health_endpoints_live_outside_the_api_prefix(client):
    # given / when
    response = client.get("/api/v1/healthz", **LOCAL)
    # then
    assert response.status_code == 404
