"""A booking race between OS processes, run as a script against a migrated database.

    DATABASE_URL=postgres://… python -m tests.process_race --mode book --racers 50 [--capacity 8]

Each racer is a separate process (own interpreter, own PostgreSQL connection) that
posts through the real API stack (JWT, Idempotency-Key, services, row locks); a
multiprocessing barrier releases them together. Prints one JSON line: the status/code
counts and what the database holds afterwards. tests/test_process_races.py runs it
directly against PostgreSQL and through a real PgBouncer in transaction mode.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import uuid
from collections import Counter
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
django.setup()

from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from accounts.models import Role, User  # noqa: E402
from scheduling.models import Appointment, Slot  # noqa: E402
from scheduling.services import appointment_book  # noqa: E402

BOOK = "/api/v1/appointments/"
FHIR_BOOK = "/fhir/R4/Appointment"  # --mode fhir: the same race through the FHIR door


def _user(role: str, tag: str) -> User:
    email = f"{tag}-{uuid.uuid4().hex[:12]}@race.example.test"
    return User.objects.create_user(email=email, password=None, role=role)


def _slot(doctor: User, hours: float, capacity: int = 1) -> Slot:
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=hours)
    end = start + timedelta(minutes=30)
    return Slot.objects.create(clinician=doctor, start=start, end=end, capacity=capacity)


def prepare(mode: str, racers: int, capacity: int = 1) -> tuple[int, list[tuple[int, str, dict]]]:
    """The contested slot (``capacity`` seats) and, per racer, (user id, url, body)."""
    doctor = _user(Role.DOCTOR, "doctor")
    target = _slot(doctor, 24 * 7, capacity)
    jobs = []
    for n in range(racers):
        patient = _user(Role.PATIENT, "patient")
        if mode == "book":
            jobs.append((patient.pk, BOOK, {"slot": target.pk}))
        elif mode == "fhir":
            jobs.append((patient.pk, FHIR_BOOK, _fhir_booking(target.pk, patient.pk)))
        else:
            own = appointment_book(patient=patient, slot_id=_slot(doctor, 48 + n).pk)
            jobs.append((patient.pk, f"{BOOK}{own.pk}/reschedule/", {"slot": target.pk}))
    return target.pk, jobs


def _fhir_booking(slot_id: int, patient_id: int) -> dict:
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}}],
    }


def _code(response) -> str:
    """ "ok", the envelope's error code, or a FHIR OperationOutcome's Carebook code."""
    if response.status_code < 400:
        return "ok"
    body = response.json()
    if body.get("resourceType") == "OperationOutcome":
        return "OperationOutcome " + body["issue"][0]["details"]["coding"][0]["code"]
    return body["error"]["code"]


def racer(job: tuple[int, str, dict], barrier: multiprocessing.synchronize.Barrier) -> tuple:
    user_id, url, body = job
    client = APIClient()
    token = AccessToken.for_user(User.objects.get(pk=user_id))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    key = uuid.uuid4().hex
    barrier.wait(timeout=60)
    response = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    code = _code(response)
    connections.close_all()
    return response.status_code, code


def _run(args: tuple) -> tuple:
    return racer(*args)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["book", "reschedule", "fhir"], default="book")
    parser.add_argument("--racers", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=1, help="seats of the contested slot")
    options = parser.parse_args()
    slot_id, jobs = prepare(options.mode, options.racers, options.capacity)
    # Load the URLconf, DRF and the views once here: forked racers inherit them warm.
    APIClient().post(BOOK, {}, format="json")
    connections.close_all()  # children must not share the parent's connection
    context = multiprocessing.get_context("fork")
    manager = context.Manager()
    barrier = manager.Barrier(len(jobs))
    with context.Pool(processes=len(jobs)) as pool:
        outcomes = pool.map(_run, [(job, barrier) for job in jobs])
    live = Appointment.objects.filter(slot_id=slot_id).exclude(status="cancelled")
    seats = sorted(live.values_list("seat", flat=True))
    slot = Slot.objects.get(pk=slot_id)
    counts = Counter(f"{status} {code}" for status, code in outcomes)
    print(
        json.dumps(
            {
                "outcomes": dict(counts),
                "active_on_slot": len(seats),
                "seats": seats,
                "slot": {"status": slot.status, "seats_taken": slot.seats_taken},
            }
        )
    )


if __name__ == "__main__":
    main()
