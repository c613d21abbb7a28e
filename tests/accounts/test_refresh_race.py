"""One refresh token, many concurrent refreshes: exactly one new pair (issue #13, item 2).

Real threads, each with its own PostgreSQL connection, released together by a barrier.
simplejwt alone checks the blacklist and then blacklists with get_or_create, so racers
that all pass the check all got a new pair; the row lock in ``refresh_token_lock`` makes
the others wait and then find the token used.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import PASSWORD, PatientFactory

REFRESH = "/api/v1/auth/token/refresh/"
RACERS = 6
ROUNDS = 5


def race(refresh: str) -> list[tuple[int, str]]:
    """POST ``refresh`` from RACERS threads at once; each one's (status, error code or "")."""
    barrier = threading.Barrier(RACERS)
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def refresh_once() -> None:
        try:
            barrier.wait()
            response = APIClient().post(REFRESH, {"refresh": refresh}, format="json")
            body = response.json()
            outcome = (response.status_code, body.get("error", {}).get("code", ""))
        except Exception as exc:  # a 500 raised through the test client counts as a loss
            outcome = (500, repr(exc))
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=refresh_once) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_give_exactly_one_new_pair() -> None:
    # given a signed-in patient
    user: User = PatientFactory.create(email="race@example.test")
    login = APIClient().post(
        "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    refresh = login.json()["refresh"]
    for _ in range(ROUNDS):
        # when RACERS requests refresh the same token at once
        outcomes = race(refresh)
        # then one succeeds and every other is a 401 in the error envelope, never a 500
        winners = [outcome for outcome in outcomes if outcome[0] == 200]
        assert len(winners) == 1, outcomes
        assert sorted(outcomes)[1:] == [(401, "authentication_failed")] * (RACERS - 1)
        # the winner's new token is the one the next round races with
        again = APIClient().post(REFRESH, {"refresh": refresh}, format="json")
        assert again.status_code == 401
        refresh = _latest_refresh(user.pk)


def _latest_refresh(user_id: int) -> str:
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    latest = (
        OutstandingToken.objects.filter(user_id=user_id, blacklistedtoken__isnull=True)
        .order_by("-id")
        .first()
    )
    assert latest is not None
    return str(latest.token)
