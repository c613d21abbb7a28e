"""The clinician's clients and one client's history."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.read_audit import Read, ReadSurface, audit_read
from dashboard import selectors
from dashboard.access import clinician_required
from dashboard.views._common import clinician_of


@require_GET
@clinician_required
def clients(request: HttpRequest) -> HttpResponse:
    user = clinician_of(request)
    context = {"clients": selectors.clients_of(clinician=user)}
    return render(request, "dashboard/clients.html", context)


@require_GET
@clinician_required
def client_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    user = clinician_of(request)
    history = selectors.client_history(clinician=user, patient_id=patient_id)
    # The page as a whole, then every record on it (visit reasons included).
    audit_read(
        actor=user,
        surface=ReadSurface.DASHBOARD_CLIENT,
        reads=[
            Read("client_record.read", history.patient, patient_id),
            *(Read("appointment.read", a, patient_id) for a in history.appointments),
            *(Read("consultation.read", c, patient_id) for c in history.consultations),
            *(Read("prescription.read", p, patient_id) for p in history.prescriptions),
            *(Read("lab_result.read", r, patient_id) for r in history.lab_results),
        ],
    )
    return render(
        request,
        "dashboard/client_detail.html",
        {"history": history, "patient": history.patient},
    )
