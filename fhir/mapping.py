"""Carebook records as FHIR R4 resources (plain dicts), one small function each.

FHIR forbids empty strings and empty lists, so every optional element is left out when
Carebook has nothing for it. Times are instants in UTC with their offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from accounts.models import User
from scheduling.models import Appointment, Slot

# Practitioner.identifier: the clinician's licence number.
LICENSE_SYSTEM = "urn:carebook:license-number"

# Appointment.status of each Carebook status; both live statuses are "booked" (the
# clinician's confirmation shows as their participant's "accepted").
APPOINTMENT_STATUS = {
    Appointment.Status.SCHEDULED: "booked",
    Appointment.Status.CONFIRMED: "booked",
    Appointment.Status.COMPLETED: "fulfilled",
    Appointment.Status.CANCELLED: "cancelled",
    Appointment.Status.NO_SHOW: "noshow",
}


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def reference(resource_type: str, pk: int, display: str = "") -> dict[str, str]:
    ref = {"reference": f"{resource_type}/{pk}"}
    if display:
        ref["display"] = display
    return ref


def human_name(first_name: str, last_name: str) -> list[dict[str, Any]]:
    name: dict[str, Any] = {"use": "official"}
    if last_name:
        name["family"] = last_name
    if first_name:
        name["given"] = [first_name]
    text = f"{first_name} {last_name}".strip()
    if not text:
        return []
    name["text"] = text
    return [name]


def _without_empty(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if value not in ("", [], None)}


def practitioner_resource(clinician: User) -> dict[str, Any]:
    profile = getattr(clinician, "clinician_profile", None)
    license_number = profile.license_number if profile is not None else ""
    identifiers = [{"system": LICENSE_SYSTEM, "value": license_number}] if license_number else []
    return _without_empty(
        {
            "resourceType": "Practitioner",
            "id": str(clinician.pk),
            "active": clinician.is_active,
            "identifier": identifiers,
            "name": human_name(clinician.first_name, clinician.last_name),
        }
    )


def patient_resource(patient: User) -> dict[str, Any]:
    profile = getattr(patient, "patient_profile", None)
    birth_date = profile.date_of_birth if profile is not None else None
    return _without_empty(
        {
            "resourceType": "Patient",
            "id": str(patient.pk),
            "active": patient.is_active,
            "name": human_name(patient.first_name, patient.last_name),
            "birthDate": birth_date.isoformat() if birth_date else None,
        }
    )


def schedule_resource(clinician: User) -> dict[str, Any]:
    """A clinician's one Schedule: its id is the clinician's."""
    profile = getattr(clinician, "clinician_profile", None)
    specialty = profile.specialty if profile is not None else ""
    return _without_empty(
        {
            "resourceType": "Schedule",
            "id": str(clinician.pk),
            "active": clinician.is_active,
            "specialty": [{"text": specialty}] if specialty else [],
            "actor": [reference("Practitioner", clinician.pk, clinician.full_name)],
        }
    )


def slot_status(slot: Slot, now: datetime) -> str:
    """free: every seat free; busy-tentative: held, or a group slot partly taken (a seat
    may be left); busy: no seat left; busy-unavailable: blocked or withdrawn."""
    return _slot_row_status(_slot_row(slot), now)


def _slot_row(slot: Slot) -> dict[str, Any]:
    return {name: getattr(slot, name) for name in SLOT_COLUMNS}


# What a Slot resource reads: a search reads these columns as plain rows.
SLOT_COLUMNS = (
    "id", "clinician_id", "status", "start", "end", "capacity", "seats_taken", "held_until",
)  # fmt: skip


def _hold_live(row: Mapping[str, Any], now: datetime) -> bool:
    """As ``Slot.hold_live``: a hold binds until ``held_until``."""
    return row["held_until"] is not None and row["held_until"] > now


def _slot_row_status(row: Mapping[str, Any], now: datetime) -> str:
    status = row["status"]
    if status == Slot.Status.OPEN:
        partly_taken = row["seats_taken"] > 0 or _hold_live(row, now)
        return "busy-tentative" if partly_taken else "free"
    if status == Slot.Status.HELD:
        return "busy-tentative"
    if status == Slot.Status.BOOKED:
        return "busy"
    return "busy-unavailable"


def slot_resource(slot: Slot, now: datetime) -> dict[str, Any]:
    return slot_row_resource(_slot_row(slot), now)


def slot_row_resource(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A Slot from its ``SLOT_COLUMNS`` (a model's or a plain row's)."""
    capacity = row["capacity"]
    resource: dict[str, Any] = {
        "resourceType": "Slot",
        "id": str(row["id"]),
        "schedule": {"reference": f"Schedule/{row['clinician_id']}"},
        "status": _slot_row_status(row, now),
        "start": instant(row["start"]),
        "end": instant(row["end"]),
    }
    if capacity > 1:
        held = 1 if _hold_live(row, now) else 0
        seats_left = max(capacity - row["seats_taken"] - held, 0)
        resource["comment"] = f"Group session: {seats_left} of {capacity} seats left."
    return resource


def appointment_resource(appointment: Appointment) -> dict[str, Any]:
    """With ``patient`` and ``clinician`` loaded (their names are the displays)."""
    confirmed = appointment.confirmed_at is not None or appointment.status in (
        Appointment.Status.CONFIRMED,
        Appointment.Status.COMPLETED,
    )
    patient, clinician = appointment.patient, appointment.clinician
    participants = [
        {
            "actor": reference("Patient", patient.pk, patient.full_name),
            "required": "required",
            "status": "accepted",
        },
        {
            "actor": reference("Practitioner", clinician.pk, clinician.full_name),
            "required": "required",
            "status": "accepted" if confirmed else "needs-action",
        },
    ]
    return _without_empty(
        {
            "resourceType": "Appointment",
            "id": str(appointment.pk),
            "meta": {"lastUpdated": instant(appointment.updated_at)},
            "status": APPOINTMENT_STATUS[Appointment.Status(appointment.status)],
            "cancelationReason": (
                {"text": appointment.cancellation_reason}
                if appointment.cancellation_reason
                else None
            ),
            "reasonCode": [{"text": appointment.reason}] if appointment.reason else [],
            "start": instant(appointment.start),
            "end": instant(appointment.end),
            "created": instant(appointment.created_at),
            "slot": [reference("Slot", appointment.slot_id)],
            "participant": participants,
        }
    )
