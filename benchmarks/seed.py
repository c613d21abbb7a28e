"""Load realistic benchmark data fast: 1,000 clinicians, 100,000 slots, 50,000 appointments.

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
from scheduling.models import Appointment, Slot  # noqa: E402

CLINICIANS = int(os.environ.get("BENCH_CLINICIANS", 1000))
SLOTS_PER_CLINICIAN = 100
BOOKED_PER_CLINICIAN = 50
SEED_PATIENTS = 10_000
STORM_PATIENTS = int(os.environ.get("BENCH_STORM_PATIENTS", 24_000))
COLLISION_EVERY = 10  # one request in ten targets a slot another request already took
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


def write_read_inputs(patients: list[int], clinicians: list[int], base: datetime) -> None:
    frm = (base + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    to = (base + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rng = random.Random(7)
    with (WORK / "reads.txt").open("w") as out:
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
    write_read_inputs(patients, clinicians, base)
    taken = slots[(clinicians[0], 0)]
    (WORK / "hot_slot.txt").write_text(f"{taken}\n")
    print(
        f"seeded {CLINICIANS} clinicians, {Slot.objects.count()} slots, "
        f"{Appointment.objects.count()} appointments",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
