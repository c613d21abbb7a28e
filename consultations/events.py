"""Consultations react to scheduling through its events (scheduling never imports us).

A new appointment's consultation is created by an ``on_publish`` handler: it runs inside
``event_publish`` of ``appointment.scheduled``, in the booking's transaction, so the
consultation commits with its appointment or not at all, and no read ever finds an
appointment without one.
"""

from __future__ import annotations

from consultations.services import consultation_create_for_appointment
from core.models import OutboxEvent
from core.outbox import on_publish
from scheduling.events import APPOINTMENT_SCHEDULED


@on_publish(APPOINTMENT_SCHEDULED, name="consultations.create_for_appointment")
def consultation_create_on_booking(event: OutboxEvent) -> None:
    # The event carries the appointment's id: creating its consultation reads nothing.
    consultation_create_for_appointment(appointment_id=event.payload["appointment_id"])
