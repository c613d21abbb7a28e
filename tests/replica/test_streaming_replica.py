"""A real streaming replica: list reads go to it, writes and the writer's next reads don't,
and a stopped replica costs no request a 5xx.

The module starts a second PostgreSQL cluster on loopback (``core.local_replica``:
``pg_basebackup -R`` of the primary into a temporary directory, ``pg_ctl`` on a free port,
run as the ``postgres`` OS user) and destroys it at the end, failed or not. The primary
is changed only if it refuses replication from 127.0.0.1: a ``pg_hba.conf`` line, once.

How the test database is shared: the whole cluster is replicated, so the test database
pytest-django creates on the primary exists on the standby under the same name. The test
settings' ``replica`` alias mirrors ``default`` (``TEST: {"MIRROR": "default"}``), which
gives it the test database's name; the ``replica_on`` fixture points that alias's HOST
and PORT at the standby for one test and back afterwards. Tests are transactional (rows
must commit to be replicated) and name both aliases; a mirror is never flushed.

How a read is proven to come from the standby: its replay is paused
(``pg_wal_replay_pause()``), a row is committed on the primary, and the read misses it.

Under pytest-xdist (``--dist loadfile``) the module runs on one worker; two runs on one
machine (CI and a developer) get their own directory and port.
"""

from __future__ import annotations

import contextlib
import itertools
import time

import pytest
from django.db import connections
from django.http import JsonResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError

from core.db import is_postgres
from core.local_replica import LocalReplica, Primary, replica_start
from core.resilience import BreakerState
from core.routers import (
    REPLICA_DB_ALIAS,
    ROUTER_PATH,
    ReplicaPinMiddleware,
    read_alias,
    read_replica,
    replica_breaker,
    user_pinned,
)
from scheduling.models import Slot
from tests.factories import DoctorFactory, PatientFactory, SlotFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=["default", REPLICA_DB_ALIAS]),
]

BOTH = ["default", REPLICA_DB_ALIAS]
_keys = itertools.count()


@pytest.fixture(scope="module")
def standby():
    if not is_postgres():
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://…")
    replica = replica_start(Primary.from_settings(connections["default"].settings_dict))
    try:
        yield replica
    finally:
        replica.destroy()


@pytest.fixture
def replica_on(standby: LocalReplica, settings):
    """The router on, the ``replica`` alias on the standby, replay running and caught up."""
    settings.DATABASE_ROUTERS = [ROUTER_PATH]
    settings.REPLICA_PIN_SECONDS = 10
    settings.REPLICA_BREAKER_THRESHOLD = 1
    settings.REPLICA_BREAKER_COOLDOWN_SECONDS = 1.0
    alias = connections[REPLICA_DB_ALIAS]
    saved = {key: alias.settings_dict[key] for key in ("HOST", "PORT")}
    alias.close()
    alias.settings_dict.update(HOST=standby.host, PORT=str(standby.port))
    replica_breaker().reset()
    if not standby.running():
        standby.start()
    standby.resume_replay()
    standby.catch_up()
    try:
        yield standby
    finally:
        alias.close()
        alias.settings_dict.update(saved)
        replica_breaker().reset()
        with contextlib.suppress(Exception):
            standby.resume_replay()


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def _book(client, slot: Slot):
    return client.post(
        "/api/v1/appointments/",
        {"slot": slot.pk, "reason": "check-up"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"replica-{next(_keys)}",
    )


def test_the_replica_alias_is_a_standby_holding_the_test_database(replica_on):
    # when the replica alias connects, then it reaches the standby's copy of the test
    # database, in recovery (read-only)
    with connections[REPLICA_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_setting('port'), current_database()")
        in_recovery, port, name = cursor.fetchone()
    assert in_recovery is True
    assert int(port) == replica_on.port
    assert name == connections["default"].settings_dict["NAME"]


def test_list_reads_come_from_the_standby(replica_on, client_for):
    # given a slot replayed on the standby, then replay paused and a second slot
    # committed on the primary only
    doctor, patient = DoctorFactory(), PatientFactory()
    replayed = SlotFactory(clinician=doctor)
    replica_on.catch_up()
    replica_on.pause_replay()
    unreplayed = SlotFactory(clinician=doctor)
    assert Slot.objects.filter(pk=unreplayed.pk).exists()  # on the primary
    client = client_for(patient)

    # when the patient lists availability, then the page is the standby's: the second
    # slot is missing
    listed = _ids(client.get("/api/v1/availability/"))
    assert replayed.pk in listed
    assert unreplayed.pk not in listed

    # when replay resumes and catches up, then the list shows it
    replica_on.resume_replay()
    replica_on.catch_up()
    assert {replayed.pk, unreplayed.pk} <= _ids(client.get("/api/v1/availability/"))


def test_a_processs_first_replica_connection_serves_a_compiled_list(
    replica_on, client_for, monkeypatch
):
    # given a process that has neither connected to the replica nor compiled the
    # availability list yet (a new connection's set-up queries once ran inside
    # core.sql's capture of the first statement: a 500 on the first replica list)
    from django.contrib.postgres import signals

    import core.sql

    slot = SlotFactory()
    replica_on.catch_up()
    connections[REPLICA_DB_ALIAS].close()
    signals.get_hstore_oids.cache_clear()
    signals.get_citext_oids.cache_clear()
    monkeypatch.setattr(core.sql, "_captured", {})

    # when a patient lists availability, then the replica answers
    assert slot.pk in _ids(client_for(PatientFactory()).get("/api/v1/availability/"))


def test_a_booking_uses_only_the_primary_and_the_booker_reads_it_next(
    replica_on, client_for, settings
):
    # given an open slot, replayed, and the standby's replay paused
    settings.REPLICA_PIN_SECONDS = 5  # long enough for the next request on a busy machine
    doctor, patient = DoctorFactory(), PatientFactory()
    slot = SlotFactory(clinician=doctor)
    replica_on.catch_up()
    replica_on.pause_replay()
    booker = client_for(patient)

    # when the patient books: every query of the request (the writes, and the reads
    # after them that build the answer) is on the primary
    with CaptureQueriesContext(connections[REPLICA_DB_ALIAS]) as on_replica:
        booked = _book(booker, slot)
    assert booked.status_code == 201, booked.content
    assert booked.json()["slot"] == slot.pk
    assert on_replica.captured_queries == []
    appointment_id = booked.json()["id"]

    # then their next request sees the booking though the standby has not replayed it
    assert user_pinned(patient)
    assert appointment_id in _ids(booker.get("/api/v1/appointments/"))
    # while the clinician, who wrote nothing, reads the standby: not there yet
    clinician_view = client_for(doctor).get(f"/api/v1/clinicians/{doctor.pk}/appointments/")
    assert appointment_id not in _ids(clinician_view)

    # when the pin's window has passed (replay still paused), the booker reads the
    # standby again: the window is the whole promise
    time.sleep(settings.REPLICA_PIN_SECONDS + 0.2)
    assert not user_pinned(patient)
    assert appointment_id not in _ids(booker.get("/api/v1/appointments/"))

    # when replay resumes, everyone sees it
    replica_on.resume_replay()
    replica_on.catch_up()
    assert appointment_id in _ids(booker.get("/api/v1/appointments/"))
    assert appointment_id in _ids(
        client_for(doctor).get(f"/api/v1/clinicians/{doctor.pk}/appointments/")
    )


def test_a_write_in_a_request_sends_its_later_reads_to_the_primary(replica_on):
    # given the standby's replay paused, and a GET view that reads, writes, then reads
    # what it wrote with replica reads switched on
    replica_on.pause_replay()
    patient, doctor = PatientFactory(), DoctorFactory()
    seen: dict[str, object] = {}

    def view(request):
        with read_replica():
            seen["before"] = read_alias()
        slot = SlotFactory(clinician=doctor)  # an ORM write: the router's db_for_write
        with read_replica():
            seen["after"] = read_alias()
            seen["found"] = Slot.objects.filter(pk=slot.pk).exists()
        return JsonResponse({})

    request = RequestFactory().get("/")
    request.user = patient

    # when the request runs through the middleware
    ReplicaPinMiddleware(view)(request)

    # then the read before the write was the replica's, the reads after it the primary's
    # (which has the row the paused standby lacks), and the writer is pinned
    assert seen == {"before": REPLICA_DB_ALIAS, "after": "default", "found": True}
    assert user_pinned(patient)


def test_an_unsafe_method_reads_only_the_primary_from_its_first_query(replica_on):
    # given a POST through the middleware
    seen: dict[str, str] = {}

    def view(request):
        with read_replica():
            seen["alias"] = read_alias()
        return JsonResponse({})

    request = RequestFactory().post("/")
    request.user = PatientFactory()
    ReplicaPinMiddleware(view)(request)
    # then even a read that opted in used the primary
    assert seen == {"alias": "default"}


def test_without_readable_routing_state_lists_read_the_primary_and_writes_answer(
    replica_on, client_for, monkeypatch
):
    # given the standby's replay paused, a slot only on the primary, and the cache that
    # holds pins and the breaker failing (Redis down)
    doctor, patient = DoctorFactory(), PatientFactory()
    replica_on.pause_replay()
    unreplayed = SlotFactory(clinician=doctor)

    def redis_down(*args, **kwargs):
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr("core.routers.user_pinned", redis_down)
    monkeypatch.setattr("core.routers.user_pin", redis_down)
    client = client_for(patient)

    # when the patient lists, then the primary answers (the unreplayed slot is there)
    assert unreplayed.pk in _ids(client.get("/api/v1/availability/"))
    # when they book, then the booking answers 201 although the pin could not be set
    booked = _book(client, unreplayed)
    assert booked.status_code == 201, booked.content


def test_a_stopped_standby_sends_lists_to_the_primary_without_a_5xx(
    replica_on, client_for, monkeypatch
):
    # given a slot and a booking, replayed, and then the standby stopped
    doctor, patient = DoctorFactory(), PatientFactory()
    slot = SlotFactory(clinician=doctor)
    booked = _book(client_for(patient), SlotFactory(clinician=doctor))
    assert booked.status_code == 201, booked.content
    replica_on.catch_up()
    replica_on.stop()
    reader = client_for(PatientFactory())
    clinician = client_for(doctor)

    # when lists are read: each answers 200 from the primary, the first failure opens the
    # breaker and the next ones do not try the standby
    replica = connections[REPLICA_DB_ALIAS]
    tries = []
    connect = replica.ensure_connection
    monkeypatch.setattr(replica, "ensure_connection", lambda: tries.append(1) or connect())
    assert slot.pk in _ids(reader.get("/api/v1/availability/"))
    assert replica_breaker().state == BreakerState.OPEN
    assert len(tries) == 1
    for _ in range(3):
        assert slot.pk in _ids(reader.get("/api/v1/availability/"))
        assert booked.json()["id"] in _ids(
            clinician.get(f"/api/v1/clinicians/{doctor.pk}/appointments/")
        )
    assert reader.get("/api/v1/hospitals/").status_code == 200
    assert len(tries) == 1  # while open, no list tried to reach the standby
    monkeypatch.undo()
    # and /metrics shows the open circuit
    assert "replica_circuit_state 2.0" in reader.get("/metrics").content.decode()

    # when the standby is back and the cool-down has passed: a probe closes the breaker,
    # and lists read the standby again (replay paused: a new slot is missing)
    replica_on.start()
    replica_on.catch_up()
    time.sleep(1.1)
    assert slot.pk in _ids(reader.get("/api/v1/availability/"))
    assert replica_breaker().state == BreakerState.CLOSED
    assert "replica_circuit_state 0.0" in reader.get("/metrics").content.decode()
    replica_on.pause_replay()
    unreplayed = SlotFactory(clinician=doctor)
    assert unreplayed.pk not in _ids(reader.get("/api/v1/availability/"))
