"""The read-replica router: list endpoints read from ``replica``, booking never touches it.

On PostgreSQL the test settings add a second alias ``replica`` that mirrors ``default``
(the same server and database through its own connection), so every query sent to the
replica is captured on ``connections["replica"]`` and nowhere else. The tests are
transactional: inside a test-wide transaction nothing would reach the replica at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from core.routers import REPLICA_DB_ALIAS, read_alias, read_replica
from scheduling.models import Appointment, Slot
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, SlotFactory

ROOT = Path(__file__).resolve().parents[2]
ROUTER = "core.routers.ReadReplicaRouter"


@pytest.fixture
def router_on(settings):
    settings.DATABASE_ROUTERS = [ROUTER]


def _tables(queries: list[dict[str, str]]) -> str:
    return " ".join(query["sql"] for query in queries)


@pytest.mark.parametrize(
    ("path", "table"),
    [
        ("/api/v1/availability/", "scheduling_slot"),
        ("/api/v1/appointments/", "scheduling_appointment"),
        ("/api/v1/patients/{patient}/appointments/", "scheduling_appointment"),
        ("/api/v1/clinicians/{doctor}/appointments/", "scheduling_appointment"),
        ("/api/v1/clinicians/", "accounts_clinicianprofile"),
        ("/api/v1/hospitals/", "accounts_hospital"),
    ],
)
@pytest.mark.usefixtures("router_on")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=["default", REPLICA_DB_ALIAS])
def test_list_endpoints_read_their_rows_from_the_replica(client_for, path, table):
    # given a clinician with an open slot and a booked appointment, seen by the patient
    doctor, patient = DoctorFactory(), PatientFactory()
    SlotFactory(clinician=doctor)
    AppointmentFactory(slot__clinician=doctor, patient=patient)
    client = client_for(patient)
    url = path.format(patient=patient.pk, doctor=doctor.pk)

    # when the patient lists
    with (
        CaptureQueriesContext(connections[REPLICA_DB_ALIAS]) as replica,
        CaptureQueriesContext(connections["default"]) as primary,
    ):
        response = client.get(url)

    # then the page and its count come from the replica, and the primary only
    # authenticated the caller
    assert response.status_code == 200, response.content
    assert response.json()["count"] >= 1
    assert f'"{table}"' in _tables(replica.captured_queries)
    assert f'"{table}"' not in _tables(primary.captured_queries)
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in replica.captured_queries)


@pytest.mark.usefixtures("router_on")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=["default", REPLICA_DB_ALIAS])
def test_booking_writes_and_locks_only_on_the_primary(client_for):
    # given an open slot
    slot = SlotFactory()
    patient = PatientFactory()
    client = client_for(patient)

    # when the patient books it (row locks, inserts, audit, outbox, idempotency record)
    with (
        CaptureQueriesContext(connections[REPLICA_DB_ALIAS]) as replica,
        CaptureQueriesContext(connections["default"]) as primary,
    ):
        response = client.post(
            "/api/v1/appointments/",
            {"slot": slot.pk, "reason": "check-up"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="replica-booking-1",
        )

    # then the replica saw no query at all, and the primary locked and wrote
    assert response.status_code == 201, response.content
    assert replica.captured_queries == []
    sql = _tables(primary.captured_queries)
    assert "FOR UPDATE" in sql
    assert 'INSERT INTO "scheduling_appointment"' in sql
    assert Appointment.objects.get(pk=response.json()["id"]).slot_id == slot.pk


@pytest.mark.usefixtures("router_on")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=["default", REPLICA_DB_ALIAS])
def test_inside_read_replica_transactions_and_locks_stay_on_the_primary():
    # given a slot, and code that opted its reads into the replica
    slot = SlotFactory()
    with read_replica():
        # when it reads outside a transaction: replica
        assert read_alias() == REPLICA_DB_ALIAS
        assert Slot.objects.get(pk=slot.pk)._state.db == REPLICA_DB_ALIAS
        # when it reads inside a transaction, or locks: primary
        with transaction.atomic():
            assert read_alias() == "default"
            assert Slot.objects.get(pk=slot.pk)._state.db == "default"
            locked = Slot.objects.select_for_update().get(pk=slot.pk)
            assert locked._state.db == "default"
        # when an object read from the replica is saved: primary
        read = Slot.objects.get(pk=slot.pk)
        read.status = Slot.Status.BLOCKED
        with CaptureQueriesContext(connections[REPLICA_DB_ALIAS]) as replica:
            read.save()
        assert replica.captured_queries == []
    # then the write is on the primary, and outside read_replica() reads are too
    assert read_alias() == "default"
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.BLOCKED


@pytest.mark.django_db
def test_without_a_replica_alias_opted_in_reads_use_default(settings, monkeypatch):
    # given the router on and no "replica" database configured
    settings.DATABASE_ROUTERS = [ROUTER]
    monkeypatch.delitem(settings.DATABASES, REPLICA_DB_ALIAS, raising=False)
    slot = SlotFactory()
    # when a read opts in, then it reads from default
    with read_replica():
        assert read_alias() == "default"
        assert Slot.objects.get(pk=slot.pk)._state.db == "default"


def _production_settings(**env: str) -> dict:
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "r = s.DATABASES.get('replica'); "
        "print(json.dumps({'routers': s.DATABASE_ROUTERS, 'replica': r and "
        "{k: r[k] for k in ('HOST', 'PORT', 'NAME')}, 'mirror': r and r['TEST']['MIRROR']}))"
    )
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # Development secrets: an unset DJANGO_ENV means production rules (config/settings.py).
        "DJANGO_ENV": "development",
        "DATABASE_URL": "postgres://carebook@primary.example:5432/carebook",
        "LOG_LEVEL": "ERROR",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_add_the_replica_only_when_its_url_is_set():
    # given no DATABASE_REPLICA_URL: no alias (everything reads from default), router on
    without = _production_settings()
    assert without == {"routers": [ROUTER], "replica": None, "mirror": None}
    # given one: the alias points at the standby, and tests would mirror default
    with_replica = _production_settings(
        DATABASE_REPLICA_URL="postgres://carebook@standby.example:5432/carebook"
    )
    assert with_replica["replica"] == {
        "HOST": "standby.example",
        "PORT": 5432,
        "NAME": "carebook",
    }
    assert with_replica["mirror"] == "default"
