"""Load realistic benchmark data fast: 1,000 clinicians, 100,000 slots, 50,000 appointments,
plus the group sessions (one capacity-8 slot per clinician) and the weekly slots the series
scenario books.

Run by benchmarks/run.py in a subprocess with the benchmark database's environment.
Writes the request inputs for wrk (tokens, slot ids, keys) to benchmarks/.work/.
Rows are written with bulk_create on purpose: this is fixture loading, not the code
under test; every request the benchmark measures goes through the real API.
"""

from __future__ import annotations

import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from accounts.models import ClinicianProfile, Hospital, Role, User  # noqa: E402
from benchmarks import cancel_offer  # noqa: E402
from scheduling.models import Appointment, Slot  # noqa: E402

CLINICIANS = int(os.environ.get("BENCH_CLINICIANS", 1000))
SLOTS_PER_CLINICIAN = 100
BOOKED_PER_CLINICIAN = 50
SEED_PATIENTS = 10_000
STORM_PATIENTS = int(os.environ.get("BENCH_STORM_PATIENTS", 24_000))
COLLISION_EVERY = 10  # one request in ten targets a slot another request already took
# Group sessions: one slot of GROUP_CAPACITY seats per clinician, all at one time (day 12,
# after the one-to-one slots' days), each asked for by GROUP_ASKS distinct patients in a
# row, so concurrent requests race for the same seats: GROUP_CAPACITY win, the rest 409.
GROUP_CAPACITY = 8
GROUP_ASKS = 10
GROUP_DAY = 12
# Series: weekly slots at 15:00 UTC (the clinicians' zone) on SERIES_STARTS consecutive
# days from day 14, SERIES_COUNT weeks each; one series request books one such column.
SERIES_COUNT = 4
SERIES_STARTS = 3
SERIES_DAY = 14
WORK = Path(__file__).resolve().parent / ".work"
BATCH = 5_000


def slot_start(base: datetime, k: int) -> datetime:
    # 10 half-hour slots a day from 09:00 UTC, 10 days, starting two days out.
    return base + timedelta(days=2 + k // 10, minutes=30 * (k % 10))


def create_users(prefix: str, count: int, role: str, password: str) -> list[int]:
    users = [
        User(
            email=f"{prefix}{n}@bench.example.test",
            first_name=f"{prefix.title()}{n}",
            last_name="Bench",
            role=role,
            password=password,
        )
        for n in range(count)
    ]
    created = User.objects.bulk_create(users, batch_size=BATCH)
    return [u.pk for u in created]


def create_slots(clinician_ids: list[int], base: datetime) -> dict[tuple[int, int], int]:
    rows = [
        Slot(
            clinician_id=cid,
            start=slot_start(base, k),
            end=slot_start(base, k) + timedelta(minutes=30),
            status=Slot.Status.BOOKED if k < BOOKED_PER_CLINICIAN else Slot.Status.OPEN,
        )
        for cid in clinician_ids
        for k in range(SLOTS_PER_CLINICIAN)
    ]
    created = Slot.objects.bulk_create(rows, batch_size=BATCH)
    ids = iter(s.pk for s in created)
    return {(cid, k): next(ids) for cid in clinician_ids for k in range(SLOTS_PER_CLINICIAN)}


def create_appointments(
    clinician_ids: list[int], patient_ids: list[int], slots: dict, base: datetime
) -> None:
    rows = []
    for i, cid in enumerate(clinician_ids):
        for k in range(BOOKED_PER_CLINICIAN):
            # For one time index k every clinician gets a different patient: no overlaps.
            patient = patient_ids[(i + k * CLINICIANS) % len(patient_ids)]
            start = slot_start(base, k)
            rows.append(
                Appointment(
                    slot_id=slots[(cid, k)],
                    patient_id=patient,
                    clinician_id=cid,
                    start=start,
                    end=start + timedelta(minutes=30),
                )
            )
    Appointment.objects.bulk_create(rows, batch_size=BATCH)


def create_group_slots(clinician_ids: list[int], base: datetime) -> list[int]:
    """One capacity-GROUP_CAPACITY slot per clinician, on GROUP_DAY at 09:00 UTC."""
    start = base + timedelta(days=GROUP_DAY)
    rows = [
        Slot(
            clinician_id=cid,
            start=start,
            end=start + timedelta(minutes=90),
            capacity=GROUP_CAPACITY,
        )
        for cid in clinician_ids
    ]
    return [slot.pk for slot in Slot.objects.bulk_create(rows, batch_size=BATCH)]


def series_start(base: datetime, day: int, week: int) -> datetime:
    return base + timedelta(days=SERIES_DAY + day + 7 * week, hours=6)  # 15:00 UTC


def create_series_slots(clinician_ids: list[int], base: datetime) -> list[int]:
    """SERIES_STARTS columns of SERIES_COUNT weekly slots per clinician; returns the
    first slot of each column (what a series request names)."""
    rows = [
        Slot(
            clinician_id=cid,
            start=series_start(base, day, week),
            end=series_start(base, day, week) + timedelta(minutes=50),
        )
        for cid in clinician_ids
        for day in range(SERIES_STARTS)
        for week in range(SERIES_COUNT)
    ]
    created = Slot.objects.bulk_create(rows, batch_size=BATCH)
    return [slot.pk for n, slot in enumerate(created) if n % SERIES_COUNT == 0]


def token(user_id: int) -> str:
    return str(AccessToken.for_user(User(pk=user_id, role=Role.PATIENT)))


def write_booking_inputs(
    name: str, patients: list[int], open_slots: list[int], rng: random.Random
) -> None:
    """Lines of 'token slot_id key'; every COLLISION_EVERY-th line reuses an earlier slot."""
    lines: list[str] = []
    taken: list[int] = []
    fresh = iter(open_slots)
    for n, patient in enumerate(patients):
        if taken and n % COLLISION_EVERY == 0:
            slot = rng.choice(taken)  # a deliberate collision: exactly one of them may win
        else:
            slot = next(fresh)
            taken.append(slot)
        lines.append(f"{token(patient)} {slot} {name}-{n}")
    (WORK / f"{name}.txt").write_text("\n".join(lines) + "\n")


def write_group_inputs(patients: list[int], group_slots: list[int]) -> None:
    """Lines of 'token slot key': GROUP_ASKS lines per group slot in a row, each a
    different patient (all the group slots share one time: no patient asks twice)."""
    lines = [
        f"{token(patients[n * GROUP_ASKS + ask])} {slot} group-{n}-{ask}"
        for n, slot in enumerate(group_slots[: len(patients) // GROUP_ASKS])
        for ask in range(GROUP_ASKS)
    ]
    (WORK / "group_c16.txt").write_text("\n".join(lines) + "\n")


def write_series_inputs(
    name: str, patients: list[int], first_slots: list[int], rng: random.Random
) -> None:
    """Lines of 'token first-slot key', one patient each; every COLLISION_EVERY-th line
    names a column another line books already (409 series_conflict: nothing booked)."""
    write_booking_inputs(name, patients, first_slots, rng)


def write_read_inputs(
    patients: list[int], clinicians: list[int], base: datetime, name: str = "reads"
) -> None:
    frm = (base + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    to = (base + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rng = random.Random(7)
    with (WORK / f"{name}.txt").open("w") as out:
        for _ in range(2_000):
            patient = rng.choice(patients)
            clinician = rng.choice(clinicians)
            out.write(f"{token(patient)} {token(clinician)} {clinician} {frm} {to}\n")


def main() -> None:
    WORK.mkdir(exist_ok=True)
    rng = random.Random(42)
    password = make_password("bench-password-not-secret")
    base = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        hospital = Hospital.objects.create(code="BENCH-1", name="Benchmark General")
        clinicians = create_users("clinician", CLINICIANS, Role.DOCTOR, password)
        ClinicianProfile.objects.bulk_create(
            [ClinicianProfile(user_id=c, hospital=hospital) for c in clinicians],
            batch_size=BATCH,
        )
        patients = create_users("patient", SEED_PATIENTS, Role.PATIENT, password)
        storm = create_users("storm", STORM_PATIENTS, Role.PATIENT, password)
        slots = create_slots(clinicians, base)
        create_appointments(clinicians, patients, slots, base)
        group_slots = create_group_slots(clinicians, base)
        series_slots = create_series_slots(clinicians, base)
        group_patients = create_users(
            "group", len(group_slots) * GROUP_ASKS, Role.PATIENT, password
        )
        series_patients = create_users("series", len(series_slots), Role.PATIENT, password)
    with connection.cursor() as cursor:
        # A database in service has been vacuumed: hint bits and the visibility map are
        # set (index-only scans, no writes on first read), as autovacuum would leave them.
        cursor.execute("VACUUM (ANALYZE)")
    open_slots = [
        slots[(cid, k)]
        for k in range(BOOKED_PER_CLINICIAN, SLOTS_PER_CLINICIAN)
        for cid in clinicians
    ]
    rng.shuffle(open_slots)
    quarter = len(storm) // 4
    # Disjoint patients and slots per booking scenario, so no run sees another's bookings.
    write_booking_inputs("book_c16", storm[:quarter], open_slots[:quarter], rng)
    write_booking_inputs(
        "book_c4", storm[quarter : 2 * quarter], open_slots[quarter : 2 * quarter], rng
    )
    write_booking_inputs(
        "book_noaudit", storm[2 * quarter : 3 * quarter], open_slots[2 * quarter : 3 * quarter], rng
    )
    write_booking_inputs(
        "book_audit", storm[3 * quarter :], open_slots[3 * quarter : 4 * quarter], rng
    )
    write_group_inputs(group_patients, group_slots)
    rng.shuffle(series_slots)
    half = len(series_slots) // 2
    # Disjoint slot columns and patients per series scenario, as for single bookings.
    write_series_inputs("series_c4", series_patients[:half], series_slots[:half], rng)
    write_series_inputs("series_c16", series_patients[half:], series_slots[half:], rng)
    write_read_inputs(patients, clinicians, base)
    # The cancel → offer scenario: waiting patients and its inputs (its own module).
    cancel_offer.seed(clinicians, base, password)
    taken = slots[(clinicians[0], 0)]
    (WORK / "hot_slot.txt").write_text(f"{taken}\n")
    print(
        f"seeded {CLINICIANS} clinicians, {Slot.objects.count()} slots, "
        f"{Appointment.objects.count()} appointments",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
