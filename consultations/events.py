"""Consultations react to scheduling through its events (scheduling never imports us).

Registered with ``core.outbox.subscriber``; the outbox gives each (event, subscriber)
one delivery row in the handler's transaction, and the handler is idempotent anyway
(``consultation_ensure_for_appointment``), so redelivery creates nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from consultations.services import consultation_ensure_for_appointment
from core.models import OutboxEvent
from core.outbox import subscriber
from scheduling.errors import AppointmentNotFound

logger = logging.getLogger(__name__)


def appointment_id_of(event: OutboxEvent) -> int | None:
    """The appointment an ``appointment.*`` event is about (aggregate first, then payload)."""
    if event.aggregate_type.rsplit(".", 1)[-1] == "appointment" and event.aggregate_id.isdigit():
        return int(event.aggregate_id)
    payload: dict[str, Any] = event.payload or {}
    for key in ("appointment_id", "appointment", "id"):
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


@subscriber("appointment.scheduled", name="consultations.create_for_appointment")
def consultation_create_on_booking(event: OutboxEvent) -> None:
    appointment_id = appointment_id_of(event)
    if appointment_id is None:
        logger.warning("event %s (%s) names no appointment; ignored", event.id, event.name)
        return
    try:
        consultation_ensure_for_appointment(appointment_id=appointment_id)
    except AppointmentNotFound:
        # Nothing to attach to (the booking rolled back); retrying would not help.
        logger.warning("event %s: appointment %s does not exist", event.id, appointment_id)
