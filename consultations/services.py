"""Consultation and prescription writes. Each public function is one transaction that
locks through ``lock_objects``, writes its audit row and publishes its event inside.

Status changes are those ``lifecycle.consultation_transition_check`` accepts. The
outcomes (completed, cancelled, no-show) are written to the appointment by scheduling's
own services, called here in the same transaction, so the two apps can never disagree
about what happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from accounts.permissions import is_record_clinician
from consultations.errors import (
    ConsultationClosed,
    ConsultationImmutable,
    ConsultationNotCompleted,
    ConsultationNotFound,
    EmptyUpdate,
    NotPrescriber,
    PrescriptionAlreadyCancelled,
)
from consultations.lifecycle import (
    PRESCRIBABLE_IN,
    Status,
    clinician_role_check,
    consultation_is_editable,
    consultation_transition_check,
    is_prescriber,
    own_consultation_check,
)
from consultations.lock_objects import consultation_lock, prescription_lock
from consultations.models import Consultation, ConsultationAddendum, Prescription
from consultations.selectors import (
    consultation_get_for,
    prescription_get_for,
    prescription_patient_id,
)
from core.audit import audit_record, fingerprint
from core.errors import InvalidRequest, RoleNotAllowed
from core.outbox import event_publish
from core.sql import insert_row
from scheduling.errors import AppointmentNotFound
from scheduling.models import Appointment
from scheduling.services import (
    appointment_cancel,
    appointment_complete,
    appointment_mark_no_show,
)

SYSTEM = None  # the actor of writes no person asked for (creation from an event)


def _consultation_payload(consultation: Consultation) -> dict[str, Any]:
    appointment = consultation.appointment
    return {
        "consultation_id": consultation.pk,
        "appointment_id": appointment.pk,
        "patient_id": appointment.patient_id,
        "clinician_id": appointment.clinician_id,
    }


# --- creation ---------------------------------------------------------------------------


def consultation_create_for_appointment(*, appointment_id: int) -> Consultation:
    """The empty consultation of a new appointment, in the booking's own transaction.

    Called by the ``appointment.scheduled`` on-publish handler (``events.py``): one
    INSERT and no read on the booking path. It is part of the booking, which the
    booking's own audit row and event record (same transaction, same actor).
    """
    consultation = Consultation(appointment_id=appointment_id)
    insert_row(consultation, _NEW_CONSULTATION_FIELDS)
    return consultation


# What a new consultation's INSERT writes (core.sql.insert_row: built once per process).
_NEW_CONSULTATION_FIELDS = tuple(
    field.attname for field in Consultation._meta.concrete_fields if not field.primary_key
)


@transaction.atomic
def consultation_ensure_for_appointment(*, appointment_id: int) -> Consultation:
    """The consultation of an appointment, created if missing. Idempotent.

    Every appointment gets its consultation when it is booked; this remains for writers
    that reach an appointment by id (the dashboard's agenda). The unique appointment
    column makes a race create one row.
    """
    existing = Consultation.objects.select_related("appointment").filter(
        appointment_id=appointment_id
    )
    found = existing.first()
    if found is not None:
        return found
    appointment = Appointment.objects.filter(pk=appointment_id).first()
    if appointment is None:
        raise AppointmentNotFound()
    try:
        with transaction.atomic():
            consultation = Consultation.objects.create(appointment=appointment)
    except IntegrityError:
        return existing.get()
    audit_record(actor=SYSTEM, action="consultation.create", obj=consultation)
    event_publish(
        name="consultation.created",
        payload=_consultation_payload(consultation),
        aggregate=("consultation", consultation.pk),
    )
    return consultation


# --- the clinician's writes -------------------------------------------------------------


def _own_consultation(actor: User, consultation_id: int) -> Consultation:
    """The consultation if ``actor`` is its clinician: 404 if unseen, 403 if someone else's."""
    clinician_role_check(actor)
    consultation = consultation_get_for(user=actor, consultation_id=consultation_id)
    own_consultation_check(consultation, actor)
    return consultation_lock(consultation)


def _refuse_if_not_open(consultation: Consultation) -> None:
    if consultation_is_editable(consultation):
        return
    status = consultation.status
    if status == Status.COMPLETED:
        raise ConsultationImmutable(details={"status": status})
    raise ConsultationClosed(details={"status": status})


@transaction.atomic
def consultation_notes_update(
    *,
    actor: User,
    consultation_id: int,
    notes: str | None = None,
    notes_shared_with_patient: bool | None = None,
) -> Consultation:
    if notes is None and notes_shared_with_patient is None:
        raise EmptyUpdate()
    consultation = _own_consultation(actor, consultation_id)
    _refuse_if_not_open(consultation)
    changes: dict[str, Any] = {}
    if notes is not None and notes != consultation.notes:
        # Audit rows record that notes changed, not the notes (staff read the audit log).
        changes["notes"] = {
            "before": fingerprint(consultation.notes),
            "after": fingerprint(notes),
        }
        consultation.notes = notes
    if (
        notes_shared_with_patient is not None
        and notes_shared_with_patient != consultation.notes_shared_with_patient
    ):
        changes["notes_shared_with_patient"] = {
            "before": consultation.notes_shared_with_patient,
            "after": notes_shared_with_patient,
        }
        consultation.notes_shared_with_patient = notes_shared_with_patient
    if not changes:
        return consultation
    consultation.save(update_fields=["notes", "notes_shared_with_patient", "updated_at"])
    audit_record(actor=actor, action="consultation.update", obj=consultation, changes=changes)
    event_publish(
        name="consultation.updated",
        payload={**_consultation_payload(consultation), "fields": sorted(changes)},
        aggregate=("consultation", consultation.pk),
    )
    return consultation


def _apply_transition(
    actor: User, consultation: Consultation, to: str, reason: str, now: datetime
) -> None:
    """One edge of the table; outcomes go to the appointment through scheduling."""
    appointment_id = consultation.appointment_id
    if to == Status.IN_PROGRESS:
        consultation.started_at = now
    elif to == Status.COMPLETED:
        appointment_complete(actor=actor, appointment_id=appointment_id)
        consultation.completed_at = now
    elif to == Status.CANCELLED:
        appointment_cancel(actor=actor, appointment_id=appointment_id, reason=reason)
    elif to == Status.NO_SHOW:
        appointment_mark_no_show(actor=actor, appointment_id=appointment_id)
    consultation.save(update_fields=["started_at", "completed_at", "updated_at"])
    consultation.appointment.refresh_from_db(fields=["status"])


@transaction.atomic
def consultation_status_change(
    *, actor: User, consultation_id: int, status: str, reason: str = ""
) -> Consultation:
    consultation = _own_consultation(actor, consultation_id)
    current = consultation.status
    now = timezone.now()
    consultation_transition_check(consultation, status, actor=actor, now=now)
    _apply_transition(actor, consultation, status, reason, now)
    audit_record(
        actor=actor,
        action="consultation.status_change",
        obj=consultation,
        changes={"status": {"before": current, "after": status}},
        metadata={"reason": fingerprint(reason)} if reason else None,
    )
    event_publish(
        name="consultation.status_changed",
        payload={**_consultation_payload(consultation), "from": current, "to": status},
        aggregate=("consultation", consultation.pk),
    )
    return consultation


@transaction.atomic
def consultation_addendum_add(
    *, actor: User, consultation_id: int, text: str, shared_with_patient: bool = False
) -> ConsultationAddendum:
    """The correction of a completed consultation: a new row linked to the original."""
    consultation = _own_consultation(actor, consultation_id)
    if consultation.status != Status.COMPLETED:
        raise ConsultationNotCompleted(
            "Addenda correct completed consultations; edit the notes until then.",
            details={"status": consultation.status},
        )
    addendum = ConsultationAddendum.objects.create(
        consultation=consultation,
        author=actor,
        text=text,
        shared_with_patient=shared_with_patient,
    )
    audit_record(
        actor=actor,
        action="consultation.addendum_add",
        obj=addendum,
        metadata={
            "consultation_id": consultation.pk,
            "text": fingerprint(text),
            "shared_with_patient": shared_with_patient,
        },
    )
    event_publish(
        name="consultation.addendum_added",
        payload={**_consultation_payload(consultation), "addendum_id": addendum.pk},
        aggregate=("consultation", consultation.pk),
    )
    return addendum


# --- prescriptions ----------------------------------------------------------------------

PRESCRIPTION_FIELDS = Prescription.WRITTEN_FIELDS


def prescription_role_check(*, actor: User) -> None:
    """Psychologists never prescribe, staff not through the API, patients never: 403."""
    if not is_prescriber(actor):
        raise RoleNotAllowed(
            "Only doctors may prescribe.", details={"allowed_roles": [Role.DOCTOR]}
        )


@transaction.atomic
def prescription_create(*, actor: User, consultation_id: int, **fields: Any) -> Prescription:
    """Doctors only, on their own completed consultation (SPEC invariant 4)."""
    prescription_role_check(actor=actor)
    unknown = set(fields) - set(PRESCRIPTION_FIELDS)
    if unknown:
        raise InvalidRequest(details={"unknown_fields": sorted(unknown)})
    own = (
        Consultation.objects.select_related("appointment")
        .filter(pk=consultation_id, appointment__clinician_id=actor.pk)
        .first()
    )
    if own is None:
        raise ConsultationNotFound()
    consultation = consultation_lock(own)
    if consultation.status != PRESCRIBABLE_IN:
        raise ConsultationNotCompleted(
            "Prescribe on a completed consultation.", details={"status": consultation.status}
        )
    prescription = Prescription.objects.create(
        consultation=consultation, prescriber=actor, **fields
    )
    audit_record(
        actor=actor,
        action="prescription.create",
        obj=prescription,
        # Medication, dose, instructions… are clinical: field names and fingerprints only.
        changes={
            name: {"before": None, "after": fingerprint(fields.get(name))}
            for name in sorted(fields)
        },
        metadata={"consultation_id": consultation.pk},
    )
    event_publish(
        name="prescription.created",
        payload={
            "prescription_id": prescription.pk,
            **_consultation_payload(consultation),
            "prescriber_id": actor.pk,
        },
        aggregate=("prescription", prescription.pk),
    )
    return prescription


@transaction.atomic
def prescription_cancel(*, actor: User, prescription_id: int, reason: str) -> Prescription:
    """Prescriptions are never edited: the prescriber cancels (who, when, why) instead."""
    if not is_record_clinician(actor):
        raise RoleNotAllowed(details={"allowed_roles": [Role.DOCTOR]})
    reason = reason.strip()
    if not reason:
        raise InvalidRequest(
            "A cancellation needs a reason.", details={"fields": {"reason": ["Required."]}}
        )
    visible = prescription_get_for(user=actor, prescription_id=prescription_id)
    if visible.prescriber_id != actor.pk:
        raise NotPrescriber()
    prescription = prescription_lock(visible.pk)
    if prescription.status == Prescription.Status.CANCELLED:
        raise PrescriptionAlreadyCancelled()
    prescription.status = Prescription.Status.CANCELLED
    prescription.cancelled_at = timezone.now()
    prescription.cancelled_by = actor
    prescription.cancellation_reason = reason
    prescription.save(
        update_fields=["status", "cancelled_at", "cancelled_by", "cancellation_reason"]
    )
    audit_record(
        actor=actor,
        action="prescription.cancel",
        obj=prescription,
        changes={"status": {"before": "active", "after": "cancelled"}},
        metadata={"reason": fingerprint(reason)},
    )
    event_publish(
        name="prescription.cancelled",
        payload={
            "prescription_id": prescription.pk,
            "patient_id": prescription_patient_id(visible),
            "prescriber_id": actor.pk,
        },
        aggregate=("prescription", prescription.pk),
    )
    return prescription
