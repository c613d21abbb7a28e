"""Grow the benchmark database to a data scale, in SQL (generate_series), fast.

``python -m benchmarks.grow SCALE`` (run by benchmarks/run.py after benchmarks/seed.py):

* at any scale, the machinery and history rows a clinic group accumulates, up to
  ``SCALE`` times 500,000 audit rows, 100,000 notifications and 100,000 outbox events
  (all delivered, sent or old: nothing a request waits on);
* above 1, ``SCALE - 1`` times seed.py's people and book again: 1,000 clinicians with
  100 slots each (half of them booked) and 10,000 patients per step, so at 10x the
  tables hold 1,000,000 slots and 500,000 appointments while each clinician's week and
  each patient's list stay the size they were; the booking scenarios at that scale book
  the new open slots (inputs ``book_c4_x10`` …), the reads sample old and new people;
* a staff user and a logged-in admin session for the change-list scenario (idempotent).

Audit rows are inserted unsealed (no worker runs during the benchmark; the chain is
never verified here). Rows are written by the database itself, not through the API:
this is fixture loading, not the code under test.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection  # noqa: E402

from benchmarks import seed  # noqa: E402

# Per scale step, in proportion to seed.py's clinicians (500,000 audit rows for 1,000).
AUDIT_PER_SCALE = 500 * seed.CLINICIANS
NOTIFICATIONS_PER_SCALE = 100 * seed.CLINICIANS
OUTBOX_PER_SCALE = 100 * seed.CLINICIANS
STORM = 12 * seed.CLINICIANS  # the booking scenarios' patients at the grown scale (6,000 each)


def execute(sql: str, params: dict[str, Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.rowcount


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])


def add_people(step: int, password: str, storm: int) -> None:
    """seed.py's clinicians (with profiles) and patients once more, named for ``step``,
    and ``storm`` patients with no appointment (the booking scenarios' at this scale)."""
    for prefix, role, number in (
        (f"x{step}clinician", "doctor", seed.CLINICIANS),
        (f"x{step}patient", "patient", seed.SEED_PATIENTS),
        (f"x{step}storm", "patient", storm),
    ):
        execute(
            "INSERT INTO accounts_user (password, is_superuser, email, first_name, last_name,"
            " role, time_zone, is_active, is_staff, date_joined, credentials_version)"
            " SELECT %(password)s, false, %(prefix)s || n || '@bench.example.test',"
            " initcap(%(prefix)s) || n, 'Bench', %(role)s, 'UTC', true, false, now(), 0"
            " FROM generate_series(0, %(number)s - 1) AS n",
            {"password": password, "prefix": prefix, "role": role, "number": number},
        )
    execute(
        "INSERT INTO accounts_clinicianprofile (specialty, license_number, bio, user_id,"
        " hospital_id) SELECT '', '', '', u.id, (SELECT id FROM accounts_hospital"
        " WHERE code = 'BENCH-1') FROM accounts_user u WHERE u.email LIKE %(like)s",
        {"like": f"x{step}clinician%"},
    )


def add_book(step: int, base: datetime) -> None:
    """100 slots per new clinician on seed.py's days and times, the first 50 booked by
    the new patients the way seed.py books them (no patient holds two at one time)."""
    params = {
        "clinicians": f"x{step}clinician%",
        "patients": f"x{step}patient%",
        "base": base + timedelta(days=2),
        "per": seed.SLOTS_PER_CLINICIAN,
        "booked": seed.BOOKED_PER_CLINICIAN,
        "c": seed.CLINICIANS,
    }
    execute("DROP TABLE IF EXISTS grow_slot, grow_patient")  # the step before's
    execute(
        "CREATE TEMP TABLE grow_slot ON COMMIT DROP AS"
        " SELECT u.id AS clinician_id, u.i, k,"
        " %(base)s::timestamptz + (k / 10) * interval '1 day'"
        " + (k %% 10) * interval '30 minutes' AS start"
        " FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM accounts_user"
        " WHERE email LIKE %(clinicians)s) AS u, generate_series(0, %(per)s - 1) AS k",
        params,
    )
    execute(
        "CREATE TEMP TABLE grow_patient ON COMMIT DROP AS SELECT id,"
        " row_number() OVER (ORDER BY id) - 1 AS i FROM accounts_user"
        " WHERE email LIKE %(patients)s",
        params,
    )
    execute(
        'WITH slot AS (INSERT INTO scheduling_slot (start, "end", mode, status, created_at,'
        " clinician_id, capacity, seats_taken)"
        " SELECT start, start + interval '30 minutes', 'in_person',"
        " CASE WHEN k < %(booked)s THEN 'booked' ELSE 'open' END, now(), clinician_id, 1,"
        " CASE WHEN k < %(booked)s THEN 1 ELSE 0 END FROM grow_slot"
        ' RETURNING id, clinician_id, start, "end", status)'
        ' INSERT INTO scheduling_appointment (start, "end", status, reason, notes,'
        " cancellation_reason, created_at, updated_at, clinician_id, patient_id, slot_id, seat)"
        " SELECT slot.start, slot.\"end\", 'scheduled', '', '', '', now(), now(),"
        " slot.clinician_id, p.id, slot.id, 1 FROM slot"
        " JOIN grow_slot g ON g.clinician_id = slot.clinician_id AND g.start = slot.start"
        " JOIN grow_patient p ON p.i = (g.i + g.k * %(c)s) %% (SELECT count(*) FROM grow_patient)"
        " WHERE slot.status = 'booked'",
        params,
    )


@contextmanager
def indexes_rebuilt(*tables: str) -> Iterator[None]:
    """Bulk loading as pg_restore does it: the tables' plain indexes (not those behind a
    constraint) dropped for the load and built again after it, each in one sorted pass
    instead of millions of random insertions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint"
            " c WHERE c.conindid = i.indexrelid)",
            [list(tables)],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the loaded rows' deferred checks
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cursor.execute(definition)


BOOK_TABLES = (
    "accounts_user",
    "accounts_clinicianprofile",
    "scheduling_slot",
    "scheduling_appointment",
)


def add_history(scale: int) -> None:
    """Audit rows, sent notifications and delivered outbox events up to ``scale``."""
    tables = ("audit_auditevent", "notifications_notification", "core_outboxevent")
    with indexes_rebuilt(*tables):
        _add_history(scale)


def _add_history(scale: int) -> None:
    audit = scale * AUDIT_PER_SCALE - count("audit_auditevent")
    if audit > 0:
        execute(
            "INSERT INTO audit_auditevent (actor_id, actor_role, action, object_type,"
            " object_id, changes, metadata, request_id, occurred_at)"
            " SELECT 1 + n %% 100000, 'patient', (ARRAY['appointment.book',"
            " 'appointment.cancel', 'appointment.reschedule', 'slot.create'])[1 + n %% 4],"
            " 'scheduling.appointment', (n %% 500000)::text, '{}', '{}', md5(n::text),"
            " now() - interval '1 day' - n * interval '6 seconds'"
            " FROM generate_series(1, %(n)s) AS n",
            {"n": audit},
        )
    notifications = scale * NOTIFICATIONS_PER_SCALE - count("notifications_notification")
    if notifications > 0:
        execute(
            "WITH people AS (SELECT array_agg(id) AS ids FROM accounts_user"
            " WHERE role = 'patient')"
            " INSERT INTO notifications_notification (channel, event_id, kind, subject,"
            " status, attempts, last_error, created_at, sent_at, recipient_id, body)"
            " SELECT 'email', gen_random_uuid(), 'appointment_scheduled', 'Appointment',"
            " 'sent', 1, '', now() - n * interval '30 seconds',"
            " now() - n * interval '30 seconds', ids[1 + n %% cardinality(ids)], ''"
            " FROM people, generate_series(1, %(n)s) AS n",
            {"n": notifications},
        )
    outbox = scale * OUTBOX_PER_SCALE - count("core_outboxevent")
    if outbox > 0:
        execute(
            "INSERT INTO core_outboxevent (id, name, payload, aggregate_type, aggregate_id,"
            " request_id, created_at, attempts, last_error, delivered_at)"
            " SELECT gen_random_uuid(), 'appointment.booked', '{}', 'appointment', n::text,"
            " '', now() - n * interval '30 seconds', 1, '',"
            " now() - n * interval '30 seconds' + interval '1 second'"
            " FROM generate_series(1, %(n)s) AS n",
            {"n": outbox},
        )


def write_scaled_inputs(scale: int, base: datetime) -> None:
    """Booking inputs on the open slots of the rows added last, and read inputs that
    sample every clinician and patient of the grown database."""
    rng = random.Random(scale)
    step = scale - 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.id FROM scheduling_slot s JOIN accounts_user u ON u.id = s.clinician_id"
            " WHERE u.email LIKE %s AND s.status = 'open' ORDER BY s.id",
            [f"x{step}clinician%"],
        )
        open_slots = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT id FROM accounts_user WHERE email LIKE %s ORDER BY id", [f"x{step}storm%"]
        )
        patients = [row[0] for row in cursor.fetchall()]
        cursor.execute(  # seed.py's and grow's booked patients, as the 1x reads sample
            "SELECT id FROM accounts_user WHERE email ~ '^(x[0-9]+)?patient' ORDER BY id"
        )
        all_patients = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT id FROM accounts_user WHERE role = 'doctor' ORDER BY id")
        all_clinicians = [row[0] for row in cursor.fetchall()]
    rng.shuffle(open_slots)
    half = len(patients) // 2
    seed.write_booking_inputs(f"book_c4_x{scale}", patients[:half], open_slots[:half], rng)
    seed.write_booking_inputs(
        f"book_c16_x{scale}", patients[half:], open_slots[half : 2 * half], rng
    )
    seed.write_read_inputs(all_patients, all_clinicians, base, name=f"reads_x{scale}")


def admin_session() -> None:
    """A staff superuser logged in to the admin; its session cookie for wrk."""
    from django.test import Client

    from accounts.models import Role, User

    user, _ = User.objects.get_or_create(
        email="bench-admin@bench.example.test",
        defaults={"role": Role.STAFF, "is_staff": True, "is_superuser": True},
    )
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    (seed.WORK / "admin_cookie.txt").write_text(f"sessionid={client.cookies['sessionid'].value}\n")


def main() -> None:
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    started = time.monotonic()
    base = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    password = make_password("bench-password-not-secret")
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    from django.db import transaction

    with transaction.atomic(), indexes_rebuilt(*BOOK_TABLES):
        for step in range(1, scale):
            if not count_like(f"x{step}clinician%"):  # else grown already (a rerun)
                add_people(step, password, STORM if step == scale - 1 else 0)
                add_book(step, base)
    lap("people and book")
    with transaction.atomic():
        add_history(scale)
    lap("history")
    admin_session()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    lap("vacuum")
    if scale > 1:
        write_scaled_inputs(scale, base)
    print(
        f"grown to {scale}x in {time.monotonic() - started:.0f} s: "
        + ", ".join(
            f"{count(t)} {t}"
            for t in (
                "scheduling_slot",
                "scheduling_appointment",
                "audit_auditevent",
                "notifications_notification",
                "core_outboxevent",
            )
        ),
        file=sys.stderr,
    )


_LAPS = [time.monotonic()]


def lap(what: str) -> None:
    _LAPS.append(time.monotonic())
    print(f"  {what}: {_LAPS[-1] - _LAPS[-2]:.0f} s", file=sys.stderr)


def count_like(pattern: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_user WHERE email LIKE %s", [pattern])
        return int(cursor.fetchone()[0])


if __name__ == "__main__":
    main()
