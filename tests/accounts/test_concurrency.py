"""Two sign-ups racing for one address: the database constraint decides, the loser gets 409."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import User
from accounts.services import patient_register
from core.errors import Conflict
from tests.factories import PASSWORD

RACERS = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_email_create_one_account() -> None:
    # given
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def register(n: int) -> None:
        # letter case differs per racer: the case-insensitive constraint must still hold
        email = "Race@Example.test" if n % 2 else "race@example.TEST"
        try:
            barrier.wait()
            patient_register(email=email, password=PASSWORD)
            outcome = "created"
        except Conflict as exc:
            outcome = exc.code
        except Exception as exc:
            outcome = repr(exc)
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(RACERS)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert sorted(outcomes) == ["created"] + ["email_taken"] * (RACERS - 1)
    assert User.objects.filter(email="race@example.test").count() == 1
