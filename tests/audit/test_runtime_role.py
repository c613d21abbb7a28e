"""PostgreSQL: the role the api, worker and beat connect as cannot undo the audit trail
(issue #13 item 4). ``db_grant_runtime_role``, run by the owner after ``migrate``, leaves
it INSERT and SELECT on the audit tables and the ordinary DML elsewhere: UPDATE, DELETE,
TRUNCATE and trigger changes on the audit tables are refused by PostgreSQL itself."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from psycopg import sql

from audit.models import AuditEvent, AuditSeal
from audit.services import audit_seal_pending
from core.audit import audit_record
from scheduling.models import Appointment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AUDIT_TABLES = ("audit_auditevent", "audit_auditseal")


@pytest.fixture
def runtime_role() -> Iterator[str]:
    """A login role of this test alone (roles are cluster-wide), dropped afterwards."""
    name = f"carebook_rt_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" LOGIN')
    yield name
    drop_role(name)


def drop_role(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name]
        )
        cursor.execute(f'DROP OWNED BY "{name}"')  # its grants and default privileges here
        cursor.execute(f'DROP ROLE "{name}"')


def connect_as(role: str) -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=role,
        autocommit=True,
    )


def sealed_row():
    with transaction.atomic():
        row = audit_record(actor=None, action="thing.touch", obj=("test.thing", 1))
    audit_seal_pending()
    return row


def refused(db: psycopg.Connection, statement: str, params: list | None = None) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        db.execute(statement, params)
    return str(caught.value)


INSERT_EVENT = (
    "INSERT INTO audit_auditevent (actor_id, actor_role, action, object_type, object_id, "
    "changes, metadata, request_id, ip_address, occurred_at) "
    "VALUES (NULL, '', 'thing.runtime', '', '', '{}', '{}', '', NULL, now()) RETURNING id"
)


def test_the_runtime_role_may_append_and_read_the_audit_trail_but_never_undo_it(runtime_role):
    # given a sealed audit row, and a runtime role that an earlier, careless setup gave
    # every privilege on every table
    row = sealed_row()
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{runtime_role}"')
    # when the owner grants the runtime role its privileges (twice: it is idempotent)
    call_command("db_grant_runtime_role", role=runtime_role, stdout=open(os.devnull, "w"))  # noqa: SIM115
    call_command("db_grant_runtime_role", role=runtime_role, stdout=open(os.devnull, "w"))  # noqa: SIM115

    with connect_as(runtime_role) as db:
        # then it reads and appends audit rows and chain links
        assert db.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM audit_auditseal").fetchone()[0] == 1
        new_id = db.execute(INSERT_EVENT).fetchone()[0]
        db.execute(
            "INSERT INTO audit_auditseal (event_id, prev_hash, hash, sealed_at, key_id) "
            "VALUES (%s, %s, %s, now(), '')",
            [new_id, "0" * 64, uuid.uuid4().hex * 2],
        )
        # but PostgreSQL refuses it every way of changing or removing them
        for table in AUDIT_TABLES:
            assert "permission denied" in refused(db, f"UPDATE {table} SET id = id")
            assert "permission denied" in refused(db, f"DELETE FROM {table}")
            assert "permission denied" in refused(db, f"TRUNCATE {table}")
            assert "must be owner" in refused(db, f"ALTER TABLE {table} DISABLE TRIGGER USER")
            assert "must be owner" in refused(db, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
            refused(db, f"DROP TABLE {table}")
        refused(db, "DROP FUNCTION audit_refuse_change()")
        # and it has no DDL at all: no new table, no TRUNCATE anywhere, no migrations
        refused(db, "CREATE TABLE runtime_was_here (id int)")
        refused(db, "TRUNCATE django_session")
        refused(db, "ALTER TABLE django_session DISABLE TRIGGER ALL")
        refused(db, "DELETE FROM django_migrations")
        # while the application's ordinary DML works on its other tables
        db.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "VALUES ('runtime-role-test', 'x', now() + interval '1 hour')"
        )
        db.execute(
            "UPDATE django_session SET session_data = 'y' WHERE session_key = %s",
            ["runtime-role-test"],
        )
        db.execute("DELETE FROM django_session WHERE session_key = %s", ["runtime-role-test"])
        db.execute("CREATE TEMP TABLE staging (id int)")  # bulk import's COPY staging

    # and the trail is as it was, plus what was appended
    assert AuditEvent.objects.get(pk=row.pk).action == "thing.touch"
    assert AuditEvent.objects.count() == 2
    assert AuditSeal.objects.count() == 2


def test_the_application_runs_as_the_runtime_role(runtime_role):
    # given the runtime role's privileges
    call_command("db_grant_runtime_role", role=runtime_role, stdout=open(os.devnull, "w"))  # noqa: SIM115
    settings = connection.settings_dict
    url = (
        f"postgres://{runtime_role}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
        f"/{settings['NAME']}"
    )
    # when a separate process connected as that role books an appointment, seals the
    # audit rows and verifies the chain, through the application's own code
    script = (
        "import django; django.setup()\n"
        "from tests.factories import DoctorFactory, PatientFactory, SlotFactory\n"
        "from scheduling.services import appointment_book\n"
        "from audit.services import audit_seal_pending, audit_chain_verify_incremental\n"
        "slot = SlotFactory(clinician=DoctorFactory())\n"
        "appointment_book(patient=PatientFactory(), slot_id=slot.pk)\n"
        "while audit_seal_pending(full=True): pass\n"
        "print('verified', audit_chain_verify_incremental().ok)\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "CELERY_", "CACHE_", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=url,
        CELERY_BROKER_URL="memory://",  # its after-commit publishes stay in the process
        LOG_LEVEL="ERROR",
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then everything it needed was granted
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verified True" in result.stdout
    assert Appointment.objects.count() == 1
    assert AuditSeal.objects.count() == AuditEvent.objects.count() > 0


def test_the_role_is_created_with_a_password_read_from_the_environment(monkeypatch):
    name = f"carebook_rt_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("TEST_RUNTIME_DB_PASSWORD", uuid.uuid4().hex)
    try:
        call_command(
            "db_grant_runtime_role",
            role=name,
            password_env="TEST_RUNTIME_DB_PASSWORD",
            stdout=open(os.devnull, "w"),  # noqa: SIM115
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, "
                "rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s",
                [name],
            )
            assert cursor.fetchone() == (True, False, False, False, True)
            cursor.execute(
                "SELECT has_table_privilege(%s, 'audit_auditevent', 'UPDATE'), "
                "has_table_privilege(%s, 'audit_auditevent', 'INSERT')",
                [name, name],
            )
            assert cursor.fetchone() == (False, True)
    finally:
        drop_role(name)


def test_the_owner_and_superusers_are_refused_as_runtime_roles(runtime_role):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (owner,) = cursor.fetchone()
        cursor.execute(
            sql.SQL("ALTER ROLE {} SUPERUSER")
            .format(sql.Identifier(runtime_role))
            .as_string(cursor.connection)
        )
    with pytest.raises(CommandError, match="runs as"):
        call_command("db_grant_runtime_role", role=owner)
    with pytest.raises(CommandError, match="superuser"):
        call_command("db_grant_runtime_role", role=runtime_role)
    with pytest.raises(CommandError, match="lower-case"):
        call_command("db_grant_runtime_role", role='x"; DROP TABLE audit_auditevent; --')


def test_a_role_that_keeps_audit_privileges_through_a_membership_is_refused(runtime_role):
    # given a runtime role made, by hand, a member of a group that may UPDATE audit rows
    group = f"{runtime_role}_grp"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{group}"')
        cursor.execute(f'GRANT UPDATE ON audit_auditevent TO "{group}"')
        cursor.execute(f'GRANT "{group}" TO "{runtime_role}"')
    try:
        # when the owner grants it, then the command refuses, naming the privilege, and
        # grants nothing (one transaction)
        with pytest.raises(CommandError, match="UPDATE on audit_auditevent"):
            call_command("db_grant_runtime_role", role=runtime_role)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT has_table_privilege(%s, 'django_session', 'SELECT')", [runtime_role]
            )
            assert cursor.fetchone() == (False,)
    finally:
        drop_role(group)
