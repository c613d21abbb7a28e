"""Scheduling's audit rows and domain events, and its reactions to them.

Every scheduling write service ends with ``scheduling_recorded(...)``: one audit row and
(for appointments) one outbox event, both in the service's transaction. Subscribers
registered here run in the Celery worker (``core.outbox`` imports every app's
``events.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import models

from accounts.models import User
from core.audit import audit_record, diff
from core.jobs import job_run
from core.models import Job, OutboxEvent
from core.outbox import event_publish, subscriber
from core.serialization import api_datetime
from scheduling.models import Appointment

APPOINTMENT_SCHEDULED = "appointment.scheduled"
APPOINTMENT_UPDATED = "appointment.updated"
APPOINTMENT_RESCHEDULED = "appointment.rescheduled"
APPOINTMENT_CANCELLED = "appointment.cancelled"
SERIES_CREATED = "series.created"
SERIES_CANCELLED = "series.cancelled"
# New availability (one-off slots, a rule's expansion): one event per request, for the
# layers above that react to a bookable slot (the waitlist offers it).
SLOT_PUBLISHED = "slot.published"

# The appointment fields an audit row compares before and after a change.
APPOINTMENT_AUDIT_FIELDS = (
    "status",
    "slot_id",
    "previous_slot_id",
    "start",
    "end",
    "reason",
    "notes",
    "confirmed_at",
    "cancelled_at",
    "cancelled_by_id",
    "cancellation_reason",
)

# Free text a patient or clinician typed (symptoms, clinical notes): audit rows keep the
# field name and a keyed fingerprint, never the text (staff read the audit log).
APPOINTMENT_FINGERPRINTED_FIELDS = frozenset({"reason", "notes", "cancellation_reason"})

BOOKING_CONFIRMATION_JOB = "appointment.booking_confirmation"


def appointment_state(appointment: Appointment) -> dict[str, Any]:
    """The audited fields of ``appointment`` (times as ISO 8601 UTC)."""
    state: dict[str, Any] = {}
    for name in APPOINTMENT_AUDIT_FIELDS:
        value = getattr(appointment, name)
        state[name] = api_datetime(value, UTC) if isinstance(value, datetime) else value
    return state


def appointment_payload(appointment: Appointment, *, actor: Any) -> dict[str, Any]:
    """What subscribers get: ids and times, never free text (reason, notes)."""
    return {
        "appointment_id": appointment.pk,
        "patient_id": appointment.patient_id,
        "clinician_id": appointment.clinician_id,
        "slot_id": appointment.slot_id,
        "previous_slot_id": appointment.previous_slot_id,
        "series_id": appointment.series_id,
        "start": api_datetime(appointment.start, UTC),
        "end": api_datetime(appointment.end, UTC),
        "status": appointment.status,
        "actor_id": getattr(actor, "pk", None),
    }


def appointment_recorded(
    *,
    actor: Any,
    appointment: Appointment,
    action: str,
    before: dict[str, Any] | None,
    event: str | None,
    metadata: dict[str, Any] | None = None,
    payload_extra: dict[str, Any] | None = None,
) -> None:
    """Audit row (+ outbox event) for an appointment change; call inside the service.
    ``payload_extra`` adds keys to the event's payload (ids and flags, never free text)."""
    after = appointment_state(appointment)
    changes = diff(
        before or dict.fromkeys(after), after, fingerprinted=APPOINTMENT_FINGERPRINTED_FIELDS
    )
    audit_record(actor=actor, action=action, obj=appointment, changes=changes, metadata=metadata)
    if event is not None:
        payload = appointment_payload(appointment, actor=actor)
        if event == APPOINTMENT_UPDATED:
            payload["changed_fields"] = sorted(changes)
        payload.update(payload_extra or {})
        event_publish(
            name=event, payload=payload, aggregate=("scheduling.appointment", appointment.pk)
        )


def slots_recorded(
    *,
    actor: Any,
    action: str,
    slots: Sequence[models.Model],
    changes: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """One audit row per slot (availability is scheduling data too)."""
    for slot in slots:
        audit_record(actor=actor, action=action, obj=slot, changes=changes, metadata=metadata)


def slots_published(*, clinician_id: int, slots: Sequence[models.Model]) -> None:
    """``slot.published`` for new slots of one clinician (ids only), in the creating
    transaction. Nothing when no slot was made."""
    if not slots:
        return
    event_publish(
        name=SLOT_PUBLISHED,
        payload={"clinician_id": clinician_id, "slot_ids": [slot.pk for slot in slots]},
        aggregate=("accounts.user", clinician_id),
    )


# --- subscribers (run in the worker) ----------------------------------------------------


@subscriber(APPOINTMENT_SCHEDULED, name="scheduling.booking_confirmation")
def confirm_booking(event: OutboxEvent) -> None:
    """Confirm a new booking as a recorded job (one per event, whoever redelivers it).

    The job checks the appointment is still active and records what was confirmed; the
    patient (who asked for the booking) can poll it, and it is listed under
    ``GET /api/v1/tasks/appointments/{id}/``.
    """
    appointment_id = event.payload["appointment_id"]

    def check(job: Job) -> dict[str, Any]:
        appointment = Appointment.objects.filter(pk=appointment_id).first()
        if appointment is None or not appointment.is_active:
            status = appointment.status if appointment is not None else "missing"
            return {"confirmed": False, "appointment_status": status}
        return {
            "confirmed": True,
            "appointment_status": appointment.status,
            "start": api_datetime(appointment.start, UTC),
            "end": api_datetime(appointment.end, UTC),
            "clinician_id": appointment.clinician_id,
        }

    job_run(
        kind=BOOKING_CONFIRMATION_JOB,
        work=check,
        requested_by=User.objects.filter(pk=event.payload["patient_id"]).first(),
        subject=("scheduling.appointment", appointment_id),
        idempotency_key=f"event:{event.id}",
    )
