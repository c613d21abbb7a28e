"""One consultation: notes, the session buttons, addenda and prescriptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from consultations.lifecycle import consultation_is_editable, is_prescriber, may_prescribe
from consultations.selectors import consultation_id_for_appointment
from consultations.services import (
    consultation_addendum_add,
    consultation_notes_update,
    consultation_status_change,
    prescription_create,
)
from core.errors import DomainError
from core.read_audit import Read, ReadSurface, audit_read
from dashboard import selectors
from dashboard.access import clinician_required, not_found_page
from dashboard.forms import AddendumForm, NotesForm, PrescriptionForm
from dashboard.views._common import ACTION_STATUS, clinician_of, moves_allowed
from scheduling.selectors import appointment_get_for


def _consultation_page(
    request: HttpRequest,
    consultation_id: int,
    *,
    bound: dict[str, forms.BaseForm] | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The page; ``bound`` holds a posted form (by its context name) to show with errors."""
    user = clinician_of(request)
    consultation = selectors.own_consultation(clinician=user, consultation_id=consultation_id)
    prescriptions = list(consultation.prescriptions.all())
    patient_id = consultation.appointment.patient_id
    audit_read(
        actor=user,
        surface=ReadSurface.DASHBOARD_CONSULTATION,
        reads=[
            Read("consultation.read", consultation, patient_id),
            Read("appointment.read", consultation.appointment, patient_id),  # its reason
            *(Read("prescription.read", p, patient_id) for p in prescriptions),
        ],
    )
    notes_initial = {
        "notes": consultation.notes,
        "notes_shared_with_patient": consultation.notes_shared_with_patient,
    }
    context = {
        "consultation": consultation,
        "appointment": consultation.appointment,
        "state": consultation.status,
        # What may happen next, as consultations.lifecycle says (the services ask it too).
        "editable": consultation_is_editable(consultation),
        "moves": moves_allowed(consultation, actor=user, now=timezone.now()),
        "prescriber": is_prescriber(user),
        "can_prescribe": may_prescribe(user, consultation),
        "notes_form": NotesForm(initial=notes_initial),
        "addendum_form": AddendumForm(),
        "prescription_form": PrescriptionForm(),
        "addenda": list(consultation.addenda.all()),
        "prescriptions": prescriptions,
        "error": error,
        **(bound or {}),
    }
    return render(request, "dashboard/consultation.html", context, status=status)


@require_GET
@clinician_required
def consultation(request: HttpRequest, consultation_id: int) -> HttpResponse:
    return _consultation_page(request, consultation_id)


@require_GET
@clinician_required
def appointment_consultation(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """From an agenda row to its consultation page. A GET only reads: the consultation
    was opened with the booking."""
    user = clinician_of(request)
    appointment = appointment_get_for(user=user, appointment_id=appointment_id)
    try:
        found = consultation_id_for_appointment(user=user, appointment_id=appointment.pk)
    except DomainError:
        return not_found_page(request)
    return redirect("dashboard:consultation", consultation_id=found)


def _back(consultation_id: int) -> HttpResponse:
    return redirect("dashboard:consultation", consultation_id=consultation_id)


@dataclass(frozen=True)
class _FormWrite:
    """A form on the consultation page and the service its valid data goes to."""

    form_class: type[forms.BaseForm]
    context_name: str
    service: Callable[..., Any]
    done: str


def _post_form(request: HttpRequest, consultation_id: int, write: _FormWrite) -> HttpResponse:
    """Posted form → 400 when invalid, the service's refusal shown (403 for a role the
    service refuses, else 409), or back to the page with ``done``."""
    user = clinician_of(request)
    selectors.own_consultation(clinician=user, consultation_id=consultation_id)
    form = write.form_class(request.POST)
    bound = {write.context_name: form}
    if not form.is_valid():
        return _consultation_page(request, consultation_id, bound=bound, status=400)
    try:
        write.service(actor=user, consultation_id=consultation_id, **form.cleaned_data)
    except DomainError as exc:
        status = 403 if exc.status == 403 else 409
        return _consultation_page(
            request, consultation_id, bound=bound, error=exc.message, status=status
        )
    messages.success(request, write.done)
    return _back(consultation_id)


_NOTES = _FormWrite(NotesForm, "notes_form", consultation_notes_update, "Notes saved.")
_ADDENDUM = _FormWrite(AddendumForm, "addendum_form", consultation_addendum_add, "Addendum added.")
_PRESCRIPTION = _FormWrite(
    PrescriptionForm, "prescription_form", prescription_create, "Prescription issued."
)


def _form_view(write: _FormWrite, name: str) -> Callable[..., HttpResponseBase]:
    @require_POST
    @clinician_required
    def view(request: HttpRequest, consultation_id: int) -> HttpResponse:
        return _post_form(request, consultation_id, write)

    view.__name__ = view.__qualname__ = name
    return view


consultation_notes = _form_view(_NOTES, "consultation_notes")
consultation_addendum = _form_view(_ADDENDUM, "consultation_addendum")
consultation_prescribe = _form_view(_PRESCRIPTION, "consultation_prescribe")


@require_POST
@clinician_required
def consultation_move(request: HttpRequest, consultation_id: int, action: str) -> HttpResponse:
    user = clinician_of(request)
    selectors.own_consultation(clinician=user, consultation_id=consultation_id)
    if action not in ACTION_STATUS:
        return not_found_page(request)
    try:
        consultation_status_change(
            actor=user, consultation_id=consultation_id, status=ACTION_STATUS[action]
        )
    except DomainError as exc:
        return _consultation_page(request, consultation_id, error=exc.message, status=409)
    messages.success(request, f"Consultation {ACTION_STATUS[action].replace('_', ' ')}.")
    return _back(consultation_id)
