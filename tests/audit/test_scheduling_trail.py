"""Scheduling writes leave one audit row and one outbox event each, in their transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from core.audit import fingerprint
from core.models import Job, OutboxEvent
from core.outbox import outbox_event_deliver
from scheduling import services
from scheduling.errors import SlotUnavailable
from scheduling.events import BOOKING_CONFIRMATION_JOB
from tests.factories import DoctorFactory, PatientFactory, SlotFactory, StaffFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db


def open_slot(doctor, hours: float = 48):
    start = hours_from_now(hours)
    return SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))


def test_booking_records_audit_row_and_scheduled_event():
    doctor, patient = DoctorFactory(), PatientFactory()
    slot = open_slot(doctor)
    # when the patient books
    appointment = services.appointment_book(patient=patient, slot_id=slot.pk, reason="Cough")
    # then one audit row with the new values …
    row = AuditEvent.objects.get()
    assert (row.action, row.actor_id, row.actor_role) == ("appointment.book", patient.pk, "patient")
    assert (row.object_type, row.object_id) == ("scheduling.appointment", str(appointment.pk))
    assert row.changes["status"] == {"before": None, "after": "scheduled"}
    assert row.changes["slot_id"] == {"before": None, "after": slot.pk}
    # … and one appointment.scheduled event carrying ids and times, not free text
    event = OutboxEvent.objects.get()
    assert event.name == "appointment.scheduled"
    assert (event.aggregate_type, event.aggregate_id) == (
        "scheduling.appointment",
        str(appointment.pk),
    )
    assert event.payload["appointment_id"] == appointment.pk
    assert event.payload["patient_id"] == patient.pk
    assert event.payload["clinician_id"] == doctor.pk
    assert event.payload["status"] == "scheduled"
    assert "reason" not in event.payload


def test_refused_booking_records_nothing():
    doctor = DoctorFactory()
    slot = open_slot(doctor)
    services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    with pytest.raises(SlotUnavailable):
        services.appointment_book(patient=PatientFactory(), slot_id=slot.pk)
    assert AuditEvent.objects.filter(action="appointment.book").count() == 1
    assert OutboxEvent.objects.count() == 1


def test_cancel_reschedule_update_confirm_each_leave_their_trail():
    doctor, patient = DoctorFactory(), PatientFactory()
    first, second = open_slot(doctor, 48), open_slot(doctor, 72)
    appointment = services.appointment_book(patient=patient, slot_id=first.pk)
    services.appointment_reschedule(
        actor=patient, appointment_id=appointment.pk, new_slot_id=second.pk
    )
    services.appointment_update(actor=patient, appointment_id=appointment.pk, reason="Follow-up")
    services.appointment_confirm(actor=doctor, appointment_id=appointment.pk)
    services.appointment_cancel(
        actor=StaffFactory(), appointment_id=appointment.pk, reason="Closed"
    )

    actions = list(
        AuditEvent.objects.filter(object_type="scheduling.appointment")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "appointment.book",
        "appointment.reschedule",
        "appointment.update",
        "appointment.confirm",
        "appointment.cancel",
    ]
    events = list(OutboxEvent.objects.order_by("created_at").values_list("name", flat=True))
    assert events == [
        "appointment.scheduled",
        "appointment.rescheduled",
        "appointment.updated",
        "appointment.updated",
        "appointment.cancelled",
    ]
    moved = AuditEvent.objects.get(action="appointment.reschedule")
    assert moved.changes["slot_id"] == {"before": first.pk, "after": second.pk}
    assert moved.changes["previous_slot_id"] == {"before": None, "after": first.pk}
    cancelled = AuditEvent.objects.get(action="appointment.cancel")
    assert cancelled.actor_role == "staff"
    assert cancelled.changes["status"] == {"before": "confirmed", "after": "cancelled"}
    # free text: its field name and fingerprints, never the text (tests/audit/
    # test_no_clinical_content.py)
    assert cancelled.changes["cancellation_reason"] == {
        "before": fingerprint(""),
        "after": fingerprint("Closed"),
    }
    updated = OutboxEvent.objects.filter(name="appointment.updated").order_by("created_at").first()
    assert updated.payload["changed_fields"] == ["reason"]


def test_unchanged_update_records_nothing():
    doctor, patient = DoctorFactory(), PatientFactory()
    appointment = services.appointment_book(
        patient=patient, slot_id=open_slot(doctor).pk, reason="Same"
    )
    services.appointment_update(actor=patient, appointment_id=appointment.pk, reason="Same")
    assert AuditEvent.objects.count() == 1
    assert OutboxEvent.objects.count() == 1


def test_slot_publication_and_withdrawal_are_audited():
    doctor = DoctorFactory()
    start = hours_from_now(48)
    slots = services.slot_create(
        clinician=doctor,
        start=start,
        end=start + timedelta(hours=1),
        slot_minutes=30,
    )
    services.slot_withdraw(actor=doctor, slot_id=slots[0].pk)
    created = AuditEvent.objects.filter(action="slot.create")
    assert sorted(created.values_list("object_id", flat=True)) == sorted(str(s.pk) for s in slots)
    withdrawn = AuditEvent.objects.get(action="slot.withdraw")
    assert withdrawn.changes == {"status": {"before": "open", "after": "withdrawn"}}
    # one event for the new availability (the waitlist offers it), ids only; none to withdraw
    (published,) = OutboxEvent.objects.all()
    assert published.name == "slot.published"
    assert published.payload == {"clinician_id": doctor.pk, "slot_ids": [s.pk for s in slots]}


def test_booking_confirmation_job_recorded_once_per_event():
    doctor, patient = DoctorFactory(), PatientFactory()
    appointment = services.appointment_book(patient=patient, slot_id=open_slot(doctor).pk)
    event = OutboxEvent.objects.get()
    # when the event is delivered, then delivered again after a lost acknowledgement
    outbox_event_deliver(event_id=event.id)
    OutboxEvent.objects.filter(id=event.id).update(delivered_at=None)
    outbox_event_deliver(event_id=event.id)
    # then exactly one succeeded confirmation job, owned by the patient, about the appointment
    job = Job.objects.get(kind=BOOKING_CONFIRMATION_JOB)
    assert job.status == Job.Status.SUCCEEDED
    assert job.progress == 100
    assert job.requested_by == patient
    assert (job.subject_type, job.subject_id) == ("scheduling.appointment", str(appointment.pk))
    assert job.result["confirmed"] is True
    assert job.result["appointment_status"] == "scheduled"
    assert job.started_at is not None
    assert job.finished_at is not None


def test_confirmation_of_an_already_cancelled_appointment_says_so():
    doctor, patient = DoctorFactory(), PatientFactory()
    appointment = services.appointment_book(patient=patient, slot_id=open_slot(doctor).pk)
    services.appointment_cancel(actor=patient, appointment_id=appointment.pk)
    scheduled = OutboxEvent.objects.get(name="appointment.scheduled")
    outbox_event_deliver(event_id=scheduled.id)
    job = Job.objects.get(kind=BOOKING_CONFIRMATION_JOB)
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == {"confirmed": False, "appointment_status": "cancelled"}
