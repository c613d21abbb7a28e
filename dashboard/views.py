"""The clinician dashboard: thin views that call the domains' services and selectors.

Writes go through the same services as the API (appointment and consultation lifecycle,
availability, prescriptions, reports), so the rules, audit rows and events are the same.
A refused write (a ``DomainError``) is shown to the clinician, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import CLINICIAN_ROLES, Role, User
from consultations.lifecycle import APPOINTMENT_TERMINAL, Status
from consultations.services import (
    consultation_addendum_add,
    consultation_ensure_for_appointment,
    consultation_notes_update,
    consultation_status_change,
    prescription_create,
)
from core.errors import DomainError, NotFound
from core.read_audit import Read, ReadSurface, audit_read
from dashboard import selectors
from dashboard.access import clinician_required, not_found_page
from dashboard.forms import (
    AddendumForm,
    LoginForm,
    NotesForm,
    PrescriptionForm,
    ReportForm,
    RuleForm,
    SlotForm,
)
from reports.services import Kind, ReportRequest, report_request
from scheduling.errors import SlotOverlap
from scheduling.models import Appointment
from scheduling.selectors import appointment_get_for
from scheduling.services import rule_create, slot_create, slot_withdraw

# Agenda buttons → the consultation status each one moves to.
AGENDA_ACTIONS = {
    "start": Status.IN_PROGRESS,
    "complete": Status.COMPLETED,
    "no-show": Status.NO_SHOW,
}


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # clinician_required lets only clinicians through
        raise NotFound()
    return user


def _parse_day(value: str | None, default: date) -> date:
    """The ISO day asked for (kept between the days a page can show), else ``default``."""
    try:
        return selectors.clamp_day(date.fromisoformat(value)) if value else default
    except ValueError:
        return default


# --- sign in and out -------------------------------------------------------------------


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Email and password through Django auth, so django-axes locks it like the API."""
    posted = request.method == "POST"
    form = LoginForm(request.POST if posted else None)
    refused = ""
    if posted and form.is_valid():
        user = authenticate(
            request, email=form.cleaned_data["email"], password=form.cleaned_data["password"]
        )
        if user is None:
            refused = "The email address or password is not right."
        elif isinstance(user, User) and user.role == Role.STAFF:
            login(request, user)
            return redirect("admin:index")
        elif not (isinstance(user, User) and user.role in CLINICIAN_ROLES):
            refused = "This sign-in is for clinicians. Clients use the Carebook app."
        else:
            login(request, user)
            return redirect(_safe_next(request) or reverse("dashboard:agenda"))
    status = 400 if posted else 200
    context = {"form": form, "refused": refused, "next": _safe_next(request) or ""}
    return render(request, "dashboard/login.html", context, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("dashboard:login")


# --- today's agenda --------------------------------------------------------------------


@dataclass
class AgendaRow:
    appointment: Appointment
    status: str
    consultation_id: int | None
    error: str = ""
    announce: bool = False  # the answer to an htmx action: move focus, read the change out

    @property
    def label(self) -> str:
        return self.status.replace("_", " ").capitalize()

    @property
    def actions(self) -> list[tuple[str, str]]:
        """(action, label) buttons the consultation lifecycle allows now."""
        if self.status == Status.SCHEDULED:
            return [("start", "Start"), ("no-show", "No-show")]
        if self.status == Status.IN_PROGRESS:
            return [("complete", "Complete")]
        return []


def _agenda_row(appointment: Appointment, error: str = "") -> AgendaRow:
    # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
    consultation = getattr(appointment, "consultation", None)
    if consultation is not None:
        consultation.appointment = appointment
        return AgendaRow(appointment, consultation.status, consultation.pk, error)
    status = APPOINTMENT_TERMINAL.get(appointment.status, Status.SCHEDULED)
    return AgendaRow(appointment, status, None, error)


@require_GET
@clinician_required
def agenda(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    today = selectors.today_for(user)
    day = _parse_day(request.GET.get("day"), today)
    appointments = selectors.agenda_for(clinician=user, day=day)
    rows = [_agenda_row(a) for a in appointments]
    context = {
        "day": day,
        "today": today,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "rows": rows,
        "chart": selectors.sessions_per_week(clinician=user, today=today),
    }
    return render(request, "dashboard/agenda.html", context)


@require_POST
@clinician_required
def agenda_action(request: HttpRequest, appointment_id: int, action: str) -> HttpResponse:
    """One click on the agenda: start, complete or no-show, through the consultation
    lifecycle (which moves the appointment through scheduling's services)."""
    user = _user(request)
    if action not in AGENDA_ACTIONS:
        return not_found_page(request)
    appointment = appointment_get_for(user=user, appointment_id=appointment_id)
    error = ""
    try:
        consultation = consultation_ensure_for_appointment(appointment_id=appointment.pk)
        consultation_status_change(
            actor=user, consultation_id=consultation.pk, status=AGENDA_ACTIONS[action]
        )
    except DomainError as exc:
        error = exc.message
    fresh = selectors.agenda_for(
        clinician=user, day=appointment.start.astimezone(user.tzinfo).date()
    )
    row = next(_agenda_row(a, error) for a in fresh if a.pk == appointment.pk)
    if request.htmx:  # type: ignore[attr-defined]
        row.announce = True
        return render(request, "dashboard/agenda.html#agenda-row", {"row": row})
    if error:
        messages.error(request, error)
    day = row.appointment.start.astimezone(user.tzinfo).date().isoformat()
    return redirect(f"{reverse('dashboard:agenda')}?day={day}")


# --- week calendar ---------------------------------------------------------------------


@require_GET
@clinician_required
def week(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    today = selectors.today_for(user)
    start = selectors.week_start_of(_parse_day(request.GET.get("start"), today))
    context = {
        "days": selectors.week_for(clinician=user, week_start=start),
        "week_start": start,
        "week_end": start + timedelta(days=6),
        "previous_week": start - timedelta(weeks=1),
        "next_week": start + timedelta(weeks=1),
        "today": today,
    }
    return render(request, "dashboard/week.html", context)


# --- availability ----------------------------------------------------------------------


def _availability_page(
    request: HttpRequest,
    *,
    rule_form: RuleForm | None = None,
    slot_form: SlotForm | None = None,
    conflicts: list[Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    today = selectors.today_for(user)
    context = {
        "rule_form": rule_form or RuleForm(prefix="rule", initial={"valid_from": today}),
        "slot_form": slot_form
        or SlotForm(prefix="slot", initial={"day": today + timedelta(days=1)}),
        "slots": selectors.upcoming_slots(clinician=user),
        "conflicts": conflicts or [],
    }
    return render(request, "dashboard/availability.html", context, status=status)


@require_GET
@clinician_required
def availability(request: HttpRequest) -> HttpResponse:
    return _availability_page(request)


def _field_errors(form: Any, exc: DomainError) -> None:
    """Put a service's field problems next to the form's fields."""
    fields = exc.details.get("fields", {}) if isinstance(exc.details, dict) else {}
    names = {"start": "start_time", "end": "end_time"}
    placed = False
    for name, problem in fields.items():
        target = names.get(name, name)
        if target in form.fields:
            form.add_error(target, str(problem))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@require_POST
@clinician_required
def rule_add(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = RuleForm(request.POST, prefix="rule")
    if not form.is_valid():
        return _availability_page(request, rule_form=form, status=400)
    try:
        _rule, expansion = rule_create(
            clinician=user, time_zone=user.time_zone, **form.cleaned_data
        )
    except DomainError as exc:
        _field_errors(form, exc)
        return _availability_page(request, rule_form=form, status=400)
    text = f"Weekly availability saved: {len(expansion.created)} slots published."
    if expansion.conflicts:
        text += f" {len(expansion.conflicts)} times were skipped: they overlap existing slots."
        ids = [conflict["conflicting_slot"] for conflict in expansion.conflicts[:20]]
        messages.success(request, text)
        conflicts = selectors.slots_by_ids(clinician=user, slot_ids=ids)
        return _availability_page(request, conflicts=conflicts)
    messages.success(request, text)
    return redirect("dashboard:availability")


@require_POST
@clinician_required
def slot_add(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = SlotForm(request.POST, prefix="slot")
    if not form.is_valid():
        return _availability_page(request, slot_form=form, status=400)
    start, end = form.interval(user.tzinfo)
    try:
        slots = slot_create(
            clinician=user, start=start, end=end, slot_minutes=form.cleaned_data["slot_minutes"]
        )
    except SlotOverlap as exc:
        form.add_error(None, exc.message)
        ids = list(exc.details.get("conflicting_slots", []))
        conflicts = selectors.slots_by_ids(clinician=user, slot_ids=ids)
        return _availability_page(request, slot_form=form, conflicts=conflicts, status=409)
    except DomainError as exc:
        _field_errors(form, exc)
        return _availability_page(request, slot_form=form, status=400)
    messages.success(request, f"{len(slots)} slot(s) published.")
    return redirect("dashboard:availability")


@require_POST
@clinician_required
def slot_remove(request: HttpRequest, slot_id: int) -> HttpResponse:
    user = _user(request)
    try:
        slot_withdraw(actor=user, slot_id=slot_id)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The slot was withdrawn.")
    return redirect("dashboard:availability")


# --- clients ---------------------------------------------------------------------------


@require_GET
@clinician_required
def clients(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    context = {"clients": selectors.clients_of(clinician=user)}
    return render(request, "dashboard/clients.html", context)


@require_GET
@clinician_required
def client_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    user = _user(request)
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


# --- consultation ----------------------------------------------------------------------


def _consultation_page(
    request: HttpRequest,
    consultation_id: int,
    *,
    notes_form: NotesForm | None = None,
    addendum_form: AddendumForm | None = None,
    prescription_form: PrescriptionForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    consultation = selectors.own_consultation(clinician=user, consultation_id=consultation_id)
    state = consultation.status
    editable = state in (Status.SCHEDULED, Status.IN_PROGRESS)
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
    context = {
        "consultation": consultation,
        "appointment": consultation.appointment,
        "state": state,
        "editable": editable,
        "can_prescribe": user.role == Role.DOCTOR and state == Status.COMPLETED,
        "notes_form": notes_form
        or NotesForm(
            initial={
                "notes": consultation.notes,
                "notes_shared_with_patient": consultation.notes_shared_with_patient,
            }
        ),
        "addendum_form": addendum_form or AddendumForm(),
        "prescription_form": prescription_form or PrescriptionForm(),
        "addenda": list(consultation.addenda.all()),
        "prescriptions": prescriptions,
        "error": error,
    }
    return render(request, "dashboard/consultation.html", context, status=status)


@require_GET
@clinician_required
def consultation(request: HttpRequest, consultation_id: int) -> HttpResponse:
    return _consultation_page(request, consultation_id)


@require_GET
@clinician_required
def appointment_consultation(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """From an agenda row to its consultation page (created if the event is still queued)."""
    appointment = appointment_get_for(user=_user(request), appointment_id=appointment_id)
    found = consultation_ensure_for_appointment(appointment_id=appointment.pk)
    return redirect("dashboard:consultation", consultation_id=found.pk)


def _back(consultation_id: int) -> HttpResponse:
    return redirect("dashboard:consultation", consultation_id=consultation_id)


@require_POST
@clinician_required
def consultation_notes(request: HttpRequest, consultation_id: int) -> HttpResponse:
    user = _user(request)
    selectors.own_consultation(clinician=user, consultation_id=consultation_id)
    form = NotesForm(request.POST)
    if not form.is_valid():
        return _consultation_page(request, consultation_id, notes_form=form, status=400)
    try:
        consultation_notes_update(actor=user, consultation_id=consultation_id, **form.cleaned_data)
    except DomainError as exc:
        return _consultation_page(
            request, consultation_id, notes_form=form, error=exc.message, status=409
        )
    messages.success(request, "Notes saved.")
    return _back(consultation_id)


@require_POST
@clinician_required
def consultation_move(request: HttpRequest, consultation_id: int, action: str) -> HttpResponse:
    user = _user(request)
    selectors.own_consultation(clinician=user, consultation_id=consultation_id)
    if action not in AGENDA_ACTIONS:
        return not_found_page(request)
    try:
        consultation_status_change(
            actor=user, consultation_id=consultation_id, status=AGENDA_ACTIONS[action]
        )
    except DomainError as exc:
        return _consultation_page(request, consultation_id, error=exc.message, status=409)
    messages.success(request, f"Consultation {AGENDA_ACTIONS[action].replace('_', ' ')}.")
    return _back(consultation_id)


@require_POST
@clinician_required
def consultation_addendum(request: HttpRequest, consultation_id: int) -> HttpResponse:
    user = _user(request)
    selectors.own_consultation(clinician=user, consultation_id=consultation_id)
    form = AddendumForm(request.POST)
    if not form.is_valid():
        return _consultation_page(request, consultation_id, addendum_form=form, status=400)
    try:
        consultation_addendum_add(actor=user, consultation_id=consultation_id, **form.cleaned_data)
    except DomainError as exc:
        return _consultation_page(
            request, consultation_id, addendum_form=form, error=exc.message, status=409
        )
    messages.success(request, "Addendum added.")
    return _back(consultation_id)


@require_POST
@clinician_required
def consultation_prescribe(request: HttpRequest, consultation_id: int) -> HttpResponse:
    user = _user(request)
    selectors.own_consultation(clinician=user, consultation_id=consultation_id)
    form = PrescriptionForm(request.POST)
    if not form.is_valid():
        return _consultation_page(request, consultation_id, prescription_form=form, status=400)
    try:
        prescription_create(actor=user, consultation_id=consultation_id, **form.cleaned_data)
    except DomainError as exc:
        status = 403 if exc.status == 403 else 409
        return _consultation_page(
            request, consultation_id, prescription_form=form, error=exc.message, status=status
        )
    messages.success(request, "Prescription issued.")
    return _back(consultation_id)


# --- reports ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@clinician_required
def reports(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    today = selectors.today_for(user)
    form = ReportForm(
        request.POST if request.method == "POST" else None,
        initial={"date_from": today - timedelta(days=30), "date_to": today, "format": "csv"},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            wanted = ReportRequest(
                kind=Kind.CASELOAD,
                date_from=form.cleaned_data["date_from"],
                date_to=form.cleaned_data["date_to"],
                format=form.cleaned_data["format"],
            )
            try:
                job = report_request(user=user, request=wanted)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("dashboard:report", job_id=job.id)
        status = 400
    context = {"form": form, "jobs": selectors.report_jobs_of(user=user)}
    return render(request, "dashboard/reports.html", context, status=status)


@require_GET
@clinician_required
def report(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """The job's page; htmx polls the same URL for the status partial until it finishes."""
    job = selectors.report_job_of(user=_user(request), job_id=job_id)
    context = {"job": job, "finished": job.status in ("succeeded", "failed")}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "dashboard/report.html#job-status", context)
    return render(request, "dashboard/report.html", context)


@require_GET
@clinician_required
def report_download(request: HttpRequest, job_id: UUID) -> HttpResponseBase:
    job = selectors.report_job_of(user=_user(request), job_id=job_id)
    if not job.file:
        return not_found_page(request, "The report is not ready yet.")
    name = job.file.name.rsplit("/", 1)[-1]
    try:
        handle = job.file.open("rb")
    except FileNotFoundError:
        return not_found_page(request, "The report file is no longer available.")
    # A report lists many clients: its download is a read of each, with no single patient.
    audit_read(
        actor=request.user,
        surface=ReadSurface.DASHBOARD_REPORT_DOWNLOAD,
        reads=[Read("job_file.read", job, None)],
    )
    return FileResponse(handle, as_attachment=True, filename=name)
