"""Idempotency-Key semantics (SPEC) through a tiny test-only endpoint that creates a Hospital."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Hospital
from core.models import IdempotencyRecord
from tests.factories import StaffFactory

pytestmark = [pytest.mark.urls("tests.core.urls")]

BODY = {"code": "H-1", "name": "Example Clinic"}


def post(client, url="/hospitals/", body=None, key="key-1", **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, body if body is not None else BODY, format="json", **headers, **extra)


@pytest.fixture
def staff_client(client_for):
    return client_for(StaffFactory())


@pytest.fixture
def session_client():
    """Authenticated without a JWT, whose 15-minute lifetime would end under time travel."""
    client = APIClient()
    client.force_authenticate(StaffFactory())
    return client


@pytest.mark.django_db
class TestReplay:
    def test_same_key_same_body_replays_the_first_answer(self, staff_client):
        # given a first request that created a hospital
        first = post(staff_client)
        assert first.status_code == 201
        assert "Idempotent-Replayed" not in first

        # when the client retries with the same key and body
        replay = post(staff_client)

        # then the identical status and body come back, marked as a replay, and nothing ran twice
        assert replay.status_code == 201
        assert replay.json() == first.json()
        assert replay["Idempotent-Replayed"] == "true"
        assert Hospital.objects.count() == 1

    def test_key_order_and_spacing_of_the_json_body_do_not_matter(self, staff_client):
        post(staff_client)
        replay = staff_client.generic(
            "POST",
            "/hospitals/",
            b'{ "name" : "Example Clinic",   "code": "H-1" }',
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="key-1",
        )
        assert replay.status_code == 201
        assert replay["Idempotent-Replayed"] == "true"
        assert Hospital.objects.count() == 1

    def test_a_4xx_answer_is_replayed_too(self, staff_client):
        # given a request refused by validation
        first = post(staff_client, body={"code": "H-1"})
        assert first.status_code == 400

        # when it is retried unchanged, the same refusal comes back without running again
        replay = post(staff_client, body={"code": "H-1"})
        assert replay.status_code == 400
        assert replay["Idempotent-Replayed"] == "true"
        assert replay.json() == first.json()
        assert Hospital.objects.count() == 0

    def test_same_key_with_another_body_is_422_and_changes_nothing(self, staff_client):
        post(staff_client)

        response = post(staff_client, body={"code": "H-2", "name": "Another Clinic"})

        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert list(Hospital.objects.values_list("code", flat=True)) == ["H-1"]

    def test_a_key_in_flight_is_409(self, staff_client):
        # given a key whose first request is still running
        user = StaffFactory()
        client = APIClient()
        client.force_authenticate(user)
        IdempotencyRecord.objects.create(
            user=user,
            scope="POST /hospitals/",
            key="key-1",
            fingerprint=_fingerprint_of(BODY),
            expires_at=timezone.now() + timedelta(hours=1),
        )

        # when a duplicate arrives
        response = post(client)

        # then 409 and nothing ran
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_request_in_progress"
        assert Hospital.objects.count() == 0


def _fingerprint_of(body: dict) -> str:
    import hashlib
    import json

    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.django_db
class TestMultipart:
    def upload(self, client, content: bytes):
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("hospitals.csv", content, content_type="text/csv")
        return client.post(
            "/uploads/",
            {"code": "UP-1", "file": upload},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="upload-1",
        )

    def test_the_same_file_is_replayed(self, staff_client):
        first = self.upload(staff_client, b"code,name\nA,Alpha\n")
        replay = self.upload(staff_client, b"code,name\nA,Alpha\n")
        assert first.status_code == 201
        assert replay["Idempotent-Replayed"] == "true"
        assert replay.json() == first.json()
        assert Hospital.objects.count() == 1

    def test_another_file_of_the_same_name_is_422(self, staff_client):
        self.upload(staff_client, b"code,name\nA,Alpha\n")
        response = self.upload(staff_client, b"code,name\nB,Beta\n")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert Hospital.objects.count() == 1


@pytest.mark.django_db
class TestKeyValidation:
    def test_missing_key_is_400_and_changes_nothing(self, staff_client):
        response = post(staff_client, key=None)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "idempotency_key_missing"
        assert Hospital.objects.count() == 0
        assert IdempotencyRecord.objects.count() == 0

    def test_empty_key_counts_as_missing(self, staff_client):
        response = post(staff_client, key="")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "idempotency_key_missing"

    @pytest.mark.parametrize("key", ["k" * 256, "tab\tkey"])
    def test_malformed_key_is_400(self, staff_client, key):
        response = post(staff_client, key=key)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "idempotency_key_invalid"
        assert Hospital.objects.count() == 0

    def test_optional_key_may_be_left_out(self, staff_client):
        assert post(staff_client, url="/optional-hospitals/", key=None).status_code == 201
        assert IdempotencyRecord.objects.count() == 0

    def test_optional_key_when_given_is_honoured(self, staff_client):
        first = post(staff_client, url="/optional-hospitals/")
        replay = post(staff_client, url="/optional-hospitals/")
        assert replay["Idempotent-Replayed"] == "true"
        assert replay.json() == first.json()
        assert Hospital.objects.count() == 1

    def test_anonymous_caller_gets_401_not_a_crash(self, api_client):
        response = post(api_client)
        assert response.status_code == 401
        assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
class TestScope:
    def test_keys_are_per_user(self, client_for):
        # given Alice used a key
        alice, bob = client_for(StaffFactory()), client_for(StaffFactory())
        alice_answer = post(alice)

        # when Bob sends the same key with his own body
        bob_answer = post(bob, body={"code": "H-2", "name": "Bob's Clinic"})

        # then Bob's request runs on its own: no 422, no replay of Alice's answer
        assert bob_answer.status_code == 201
        assert "Idempotent-Replayed" not in bob_answer
        assert bob_answer.json()["id"] != alice_answer.json()["id"]
        assert Hospital.objects.count() == 2

    def test_keys_are_per_endpoint(self, staff_client):
        post(staff_client)

        other = post(staff_client, url="/other-hospitals/", body={"code": "H-2", "name": "B"})

        assert other.status_code == 201
        assert "Idempotent-Replayed" not in other
        assert Hospital.objects.count() == 2

    def test_keys_are_per_resource_of_an_endpoint(self, staff_client):
        # given two hospitals and an action already done on the first with key-1
        first = Hospital.objects.create(code="A", name="First")
        second = Hospital.objects.create(code="B", name="Second")
        post(staff_client, url=f"/hospitals/{first.pk}/rename/", body={})

        # when the same key and (empty) body is used on the second hospital
        response = post(staff_client, url=f"/hospitals/{second.pk}/rename/", body={})

        # then the second action runs instead of replaying the first one's answer
        assert "Idempotent-Replayed" not in response
        assert response.json() == {"id": second.pk, "name": "Second (renamed)"}
        second.refresh_from_db()
        assert second.name == "Second (renamed)"


@pytest.mark.django_db
class TestExpiry:
    def test_a_key_expires_after_the_ttl(self, session_client, settings):
        staff_client = session_client
        settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
        with time_machine.travel(timezone.now(), tick=False) as clock:
            post(staff_client)

            # still replayed just before the TTL
            clock.shift(timedelta(hours=24) - timedelta(seconds=1))
            assert post(staff_client)["Idempotent-Replayed"] == "true"

            # after the TTL, the key is free again: another body runs instead of 422
            clock.shift(timedelta(seconds=2))
            response = post(staff_client, body={"code": "H-2", "name": "Later Clinic"})

        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response
        assert Hospital.objects.count() == 2
        assert IdempotencyRecord.objects.count() == 1

    def test_purge_removes_only_expired_records(self, session_client):
        staff_client = session_client
        from core.idempotency import idempotency_purge_expired

        with time_machine.travel(timezone.now(), tick=False) as clock:
            post(staff_client, key="old")
            clock.shift(timedelta(hours=23))
            post(staff_client, key="new", body={"code": "H-2", "name": "B"})
            clock.shift(timedelta(hours=2))
            assert idempotency_purge_expired() == 1
        assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]

    def test_a_request_killed_mid_way_frees_its_key_after_the_lease(self, session_client, settings):
        settings.IDEMPOTENCY_IN_PROGRESS_LEASE_SECONDS = 60
        settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
        with time_machine.travel(timezone.now(), tick=False) as clock:
            # given a request killed after claiming its key (its worker timed out)
            settings.CAREBOOK_TEST_ABORT = True
            with pytest.raises(SystemExit):
                post(session_client)
            settings.CAREBOOK_TEST_ABORT = False
            assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.IN_PROGRESS

            # then a retry within the claim's lease is told it is in flight
            clock.shift(timedelta(seconds=59))
            assert post(session_client).status_code == 409

            # when the lease has passed, the retry runs normally (not 409 for 24 h)
            clock.shift(timedelta(seconds=2))
            retried = post(session_client)

            assert retried.status_code == 201
            assert "Idempotent-Replayed" not in retried
            assert Hospital.objects.count() == 1
            # and its answer is kept for the whole TTL, not the lease
            clock.shift(timedelta(hours=23))
            assert post(session_client)["Idempotent-Replayed"] == "true"

    def test_the_scheduled_purge_deletes_expired_records_in_batches(self, settings):
        # given records past their window, lapsed claims, and records still in force
        from core.idempotency import idempotency_purge_expired
        from core.tasks import idempotency_purge

        user = StaffFactory()
        now = timezone.now()
        completed, in_progress = (
            IdempotencyRecord.State.COMPLETED,
            IdempotencyRecord.State.IN_PROGRESS,
        )
        rows = {
            "expired-1": (completed, now - timedelta(seconds=1)),
            "expired-2": (completed, now - timedelta(hours=30)),
            "expired-3": (completed, now - timedelta(minutes=5)),
            "lapsed-claim-1": (in_progress, now - timedelta(seconds=1)),
            "lapsed-claim-2": (in_progress, now - timedelta(hours=2)),
            "kept-answer": (completed, now + timedelta(hours=1)),
            "kept-claim": (in_progress, now + timedelta(seconds=30)),
        }
        for key, (state, expires_at) in rows.items():
            IdempotencyRecord.objects.create(
                user=user, scope="POST /x/", key=key, fingerprint="f", state=state,
                expires_at=expires_at,
            )  # fmt: skip

        # when the purge runs in batches smaller than the backlog
        assert idempotency_purge_expired(batch_size=2) == 5

        # then exactly the expired ones are gone
        assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == [
            "kept-answer",
            "kept-claim",
        ]
        # and beat's task runs the same purge (nothing left to delete now)
        assert idempotency_purge.apply().get() == 0
        assert settings.CELERY_BEAT_SCHEDULE["idempotency-purge"]["task"] == idempotency_purge.name


@pytest.mark.django_db
class TestFailures:
    def test_a_5xx_answer_does_not_store_the_key(self, staff_client, settings):
        # given an outage makes the first attempt answer 500
        settings.CAREBOOK_TEST_OUTAGE = True
        failed = post(staff_client)
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "error"
        assert IdempotencyRecord.objects.count() == 0

        # when the client retries with the same key after recovery
        settings.CAREBOOK_TEST_OUTAGE = False
        retried = post(staff_client)

        # then the request really runs
        assert retried.status_code == 201
        assert "Idempotent-Replayed" not in retried
        assert Hospital.objects.count() == 1

    def test_an_unexpected_exception_releases_the_key(self, client_for, settings):
        user = StaffFactory()
        client = client_for(user)
        client.raise_request_exception = False
        settings.CAREBOOK_TEST_CRASH = True
        crashed = post(client)
        assert crashed.status_code == 500
        assert crashed.json()["error"]["code"] == "server_error"
        assert IdempotencyRecord.objects.count() == 0

        settings.CAREBOOK_TEST_CRASH = False
        assert post(client).status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_key_sent_concurrently_executes_once(client_for, settings):
    # given one user firing the same request from many threads at once
    settings.CAREBOOK_TEST_HANDLER_DELAY = 1.0  # wide enough under a loaded CI machine
    user = StaffFactory()
    threads_count = 12
    barrier = threading.Barrier(threads_count)
    answers: list[tuple[int, dict, str | None]] = []
    lock = threading.Lock()

    def send() -> None:
        client = client_for(user)
        try:
            barrier.wait()
            response = post(client)
            with lock:
                answers.append(
                    (response.status_code, response.json(), response.get("Idempotent-Replayed"))
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one execution: one fresh 201, the rest 409 in flight or replays of it
    assert len(answers) == threads_count
    fresh = [a for a in answers if a[0] == 201 and a[2] is None]
    assert len(fresh) == 1
    for status_code, body, _replayed in answers:
        if status_code == 409:
            assert body["error"]["code"] == "idempotency_request_in_progress"
        else:
            assert status_code == 201
            assert body == fresh[0][1]
    assert any(a[0] == 409 for a in answers)
    assert Hospital.objects.count() == 1
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.COMPLETED


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_claim_inside_a_callers_transaction_leaves_its_commit_durable(staff_client):
    # given a caller already inside a transaction (the relaxed commit is only for the
    # record's own statement in autocommit; it must never reach a caller's change)
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        (before,) = cursor.fetchone()
        # when a request claims and completes a key in it
        assert post(staff_client).status_code == 201
        # then the transaction's commit still waits for the WAL flush
        cursor.execute("SHOW synchronous_commit")
        (after,) = cursor.fetchone()
    assert before == after == "on"
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.COMPLETED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_relaxed_commit_lasts_for_the_records_own_statement_only(staff_client):
    # given a request that claimed and completed its key in autocommit
    assert post(staff_client).status_code == 201
    record = IdempotencyRecord.objects.get()
    assert record.state == IdempotencyRecord.State.COMPLETED
    assert record.response_status == 201
    # then the connection's next transactions commit durably again
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
