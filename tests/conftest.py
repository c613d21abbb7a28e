"""Shared fixtures. Tests that need real services say so with a marker.

``@pytest.mark.postgres`` / ``@pytest.mark.redis`` tests are skipped, with the
reason shown, on the embedded defaults. With ``CAREBOOK_REQUIRE_SERVICES=1`` (set
by ``.ci/run``) a missing service fails the test instead of skipping it.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from core.db import is_postgres

REQUIRE_SERVICES = os.environ.get("CAREBOOK_REQUIRE_SERVICES") == "1"


def _missing_service(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and not is_postgres(connection):
        return "needs PostgreSQL: set DATABASE_URL=postgres://…"
    if item.get_closest_marker("redis") and not settings.CELERY_BROKER_URL.startswith("redis"):
        return "needs Redis: set CELERY_BROKER_URL=redis://…"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing_service(item)
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"CAREBOOK_REQUIRE_SERVICES=1 but this test {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _queued_publishes_finish_inside_their_test():
    """After-commit publishes run on a background thread (core.broker.send_task_soon):
    wait for them, so one test's publish never lands in the next test's broker setup."""
    yield
    from core.broker import wait_for_queued_publishes

    assert wait_for_queued_publishes(timeout=15), "queued publishes did not finish"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for():
    """``client_for(user)`` → an APIClient that sends a real JWT access token for ``user``."""
    from rest_framework_simplejwt.tokens import RefreshToken

    def make(user) -> APIClient:
        client = APIClient()
        token = RefreshToken.for_user(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make
