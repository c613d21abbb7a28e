from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import ClinicianProfile, Hospital, PatientProfile, User


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters live in the cache (Redis in CI): start every test from zero.
    cache.clear()
    yield
    cache.clear()


def accounts_state() -> dict[str, object]:
    """Everything an accounts request could change, to assert that a failure changed nothing."""
    return {
        "users": list(
            User.objects.order_by("id").values_list(
                "id", "email", "first_name", "last_name", "role", "time_zone", "password"
            )
        ),
        "patient_profiles": PatientProfile.objects.count(),
        "clinician_profiles": list(ClinicianProfile.objects.order_by("id").values()),
        "hospitals": Hospital.objects.count(),
        "outstanding_tokens": OutstandingToken.objects.count(),
        "blacklisted_tokens": BlacklistedToken.objects.count(),
    }


@pytest.fixture
def snapshot() -> Callable[[], Callable[[], None]]:
    """``assert_unchanged = snapshot()`` before the request, ``assert_unchanged()`` after it."""

    def take() -> Callable[[], None]:
        before = accounts_state()

        def assert_unchanged() -> None:
            assert accounts_state() == before

        return assert_unchanged

    return take
