"""What a FHIR body asks for: the booking of ``POST Appointment`` and the cancellation of
``PATCH`` or ``PUT Appointment/{id}``. A body of the wrong JSON shape or types is a 400
(``InvalidResource``); a well-formed one asking for what this server does not do is a
422 (``UnsupportedChange``). Elements this server does not read are ignored, as FHIR
lets a server ignore what it does not store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.errors import InvalidResource, UnsupportedChange
from fhir.search import reference_id

MAX_REASON_LENGTH = 2000


@dataclass(frozen=True)
class BookingRequest:
    slot_id: int
    patient_id: int
    practitioner_id: int | None
    start: datetime | None
    end: datetime | None
    reason: str


def booking_request(body: Any) -> BookingRequest:
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise InvalidResource("The body must be an Appointment resource.")
    status = body.get("status")
    if not isinstance(status, str):
        raise InvalidResource("Appointment.status is required (booked).")
    if status != "booked":
        raise UnsupportedChange("Appointments are created with status 'booked'.")
    people = _participants(body.get("participant"))
    if "Patient" not in people:
        raise InvalidResource("One participant must be the Patient (Patient/id).")
    return BookingRequest(
        slot_id=_slot_id(body.get("slot")),
        patient_id=people["Patient"],
        practitioner_id=people.get("Practitioner"),
        start=_optional_instant(body, "start"),
        end=_optional_instant(body, "end"),
        reason=_reason(body.get("reasonCode")),
    )


def _reference_of(value: Any, where: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        raise InvalidResource(f"{where} must be a Reference with a 'reference'.")
    return str(value["reference"])


def _slot_id(slots: Any) -> int:
    if not isinstance(slots, list) or not slots:
        raise InvalidResource("Appointment.slot must list the Slot to book (Slot/id).")
    if len(slots) > 1:
        raise UnsupportedChange("Book one Slot per Appointment.")
    text = _reference_of(slots[0], "Appointment.slot[0]")
    if not text.startswith("Slot/") and "/Slot/" not in text:
        raise InvalidResource("Appointment.slot[0] must reference a Slot (Slot/id).")
    slot_id = reference_id(text, "Slot")
    if slot_id is None:
        raise InvalidResource("Appointment.slot[0] is not a Slot id of this server.")
    return slot_id


def _participants(participants: Any) -> dict[str, int]:
    """Actor id by type; one Patient and at most one Practitioner."""
    if not isinstance(participants, list) or not participants:
        raise InvalidResource("Appointment.participant must list the Patient.")
    found: dict[str, int] = {}
    for index, participant in enumerate(participants):
        where = f"Appointment.participant[{index}]"
        if not isinstance(participant, dict):
            raise InvalidResource(f"{where} must be an object.")
        text = _reference_of(participant.get("actor"), f"{where}.actor")
        kind = next((k for k in ("Patient", "Practitioner") if f"{k}/" in text), None)
        if kind is None:
            raise UnsupportedChange(f"{where}.actor must be a Patient or a Practitioner.")
        pk = reference_id(text, kind)
        if pk is None:
            raise InvalidResource(f"{where}.actor is not a {kind} id of this server.")
        if kind in found:
            raise UnsupportedChange(f"An Appointment here has one {kind}.")
        found[kind] = pk
    return found


def _optional_instant(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in str(value):
        raise InvalidResource(f"Appointment.{name} must be an instant with an offset.")
    return moment


def _reason(codes: Any) -> str:
    if codes is None:
        return ""
    if not isinstance(codes, list) or not all(
        isinstance(code, dict) and isinstance(code.get("text", ""), str) for code in codes
    ):
        raise InvalidResource("Appointment.reasonCode must be a list of {text}.")
    reason = "; ".join(code["text"] for code in codes if code.get("text"))
    if len(reason) > MAX_REASON_LENGTH or "\x00" in reason:
        raise InvalidResource(f"The reason is longer than {MAX_REASON_LENGTH} characters.")
    return reason


# --- cancellation (PATCH) --------------------------------------------------------------


def cancellation_reason(body: Any, *, appointment_id: int) -> str:
    """The reason of a PATCH that cancels: a JSON Patch (a list of operations) or a merge
    patch (an object) setting ``status`` to ``cancelled``; the only other element it may
    set is ``cancelationReason.text``."""
    if isinstance(body, list):
        changes = _json_patch_changes(body)
    elif isinstance(body, dict):
        changes = _merge_patch_changes(body, appointment_id=appointment_id)
    else:
        raise InvalidResource("A PATCH body is a JSON Patch list or a merge-patch object.")
    if changes.get("status") != "cancelled":
        raise UnsupportedChange("This server changes an Appointment only to status 'cancelled'.")
    return _cancel_reason_text(changes.get("cancelationReason"))


def _json_patch_changes(operations: list[Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise InvalidResource(f"Operation {index} must be an object with a path.")
        if operation.get("op") not in ("replace", "add") or "value" not in operation:
            raise UnsupportedChange(f"Operation {index}: only replace or add with a value.")
        path = operation["path"]
        if path == "/cancelationReason/text":
            changes["cancelationReason"] = {"text": operation["value"]}
        elif path in ("/status", "/cancelationReason"):
            changes[path[1:]] = operation["value"]
        else:
            raise UnsupportedChange(f"Operation {index}: {path!r} cannot be changed here.")
    return changes


def _merge_patch_changes(body: dict[str, Any], *, appointment_id: int) -> dict[str, Any]:
    if body.get("resourceType", "Appointment") != "Appointment":
        raise InvalidResource("The patch is not an Appointment.")
    if "id" in body and body["id"] != str(appointment_id):
        raise InvalidResource("The patch's id is not this Appointment's.")
    unknown = sorted(set(body) - {"resourceType", "id", "status", "cancelationReason"})
    if unknown:
        raise UnsupportedChange(f"These elements cannot be changed here: {', '.join(unknown)}.")
    return body


def _cancel_reason_text(reason: Any) -> str:
    if reason is None:
        return ""
    text = reason.get("text", "") if isinstance(reason, dict) else None
    if not isinstance(text, str) or len(text) > MAX_REASON_LENGTH or "\x00" in text:
        raise InvalidResource("cancelationReason must be {text} of at most 2000 characters.")
    return text


# --- cancellation (PUT) ----------------------------------------------------------------


def cancellation_from_update(body: Any, *, current: dict[str, Any]) -> str:
    """The reason of a PUT of the whole Appointment with ``status: cancelled``: the
    resource as read (``current``) with its status changed. Its id must be this one's;
    ``slot``, the participants' actors, ``start`` and ``end`` must be what they are (a
    PUT that moves or re-assigns an appointment is refused); elements this server does
    not store are ignored, as on create."""
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise InvalidResource("The body must be an Appointment resource.")
    if body.get("id") != current["id"]:
        raise InvalidResource("The Appointment's id must be the one in the URL.")
    if body.get("status") != "cancelled":
        raise UnsupportedChange("This server changes an Appointment only to status 'cancelled'.")
    if body.get("slot", current["slot"]) != current["slot"]:
        raise UnsupportedChange("An Appointment's slot cannot be changed here.")
    actors = _actors(body.get("participant", current["participant"]))
    if actors != _actors(current["participant"]):
        raise UnsupportedChange("An Appointment's participants cannot be changed here.")
    for name in ("start", "end"):
        moment = _optional_instant(body, name)
        if moment is not None and moment != datetime.fromisoformat(current[name]):
            raise UnsupportedChange(f"An Appointment's {name} cannot be changed here.")
    return _cancel_reason_text(body.get("cancelationReason"))


def _actors(participants: Any) -> list[str]:
    if not isinstance(participants, list):
        raise InvalidResource("Appointment.participant must be a list.")
    references = [
        _reference_of(p.get("actor") if isinstance(p, dict) else None, "participant.actor")
        for p in participants
    ]
    return sorted(references)
