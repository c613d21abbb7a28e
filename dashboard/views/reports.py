"""Report jobs: request one, poll its status, download its file."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import DomainError
from core.read_audit import Read, ReadSurface, audit_read
from dashboard import selectors
from dashboard.access import clinician_required, not_found_page
from dashboard.forms import ReportForm
from dashboard.views._common import clinician_of
from reports.services import Kind, ReportRequest, report_request


@require_http_methods(["GET", "POST"])
@clinician_required
def reports(request: HttpRequest) -> HttpResponse:
    user = clinician_of(request)
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
    job = selectors.report_job_of(user=clinician_of(request), job_id=job_id)
    context = {"job": job, "finished": job.status in ("succeeded", "failed")}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "dashboard/report.html#job-status", context)
    return render(request, "dashboard/report.html", context)


@require_GET
@clinician_required
def report_download(request: HttpRequest, job_id: UUID) -> HttpResponseBase:
    job = selectors.report_job_of(user=clinician_of(request), job_id=job_id)
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
