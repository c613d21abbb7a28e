"""Report jobs: requested in the API (202 with the job), built by a Celery task.

The request's parameters travel in the job itself (``result["request"]``) so the task
needs nothing but the job id, and a re-delivered task rebuilds the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction

from accounts.models import Role, User
from accounts.permissions import require_role
from core.audit import audit_record
from core.errors import InvalidRequest, Unprocessable
from core.jobs import JobLease, job_execute, job_fail, job_launch, job_succeed
from core.models import Job
from core.outbox import event_publish
from reports.rendering import render_csv, render_pdf
from reports.selectors import (
    CASELOAD_COLUMNS,
    VOLUME_COLUMNS,
    appointment_volume_rows,
    caseload_rows,
)

REPORT_JOB_KIND = "report"
BUILD_TASK = "reports.build_report"
MAX_REPORT_DAYS = 366
# Dates a report may cover: any real appointment, and no date arithmetic overflow.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)


class Kind:
    CASELOAD = "caseload"
    APPOINTMENT_VOLUME = "appointment_volume"
    ALL = (CASELOAD, APPOINTMENT_VOLUME)


FORMATS = ("csv", "pdf")
# Who may ask for which report.
ROLES_FOR_KIND = {
    Kind.CASELOAD: (Role.DOCTOR, Role.PSYCHOLOGIST),
    Kind.APPOINTMENT_VOLUME: (Role.STAFF,),
}
TITLES = {Kind.CASELOAD: "Caseload", Kind.APPOINTMENT_VOLUME: "Appointment volume"}


@dataclass(frozen=True)
class ReportRequest:
    kind: str
    date_from: date
    date_to: date  # inclusive
    format: str

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "format": self.format,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> ReportRequest:
        return cls(
            kind=data["kind"],
            date_from=date.fromisoformat(data["from"]),
            date_to=date.fromisoformat(data["to"]),
            format=data["format"],
        )


def report_request(*, user: User, request: ReportRequest, idempotency_key: str = "") -> Job:
    """Check who asks for what, record the job and queue its build after commit.

    A key already used for a report with other parameters is refused (422), also once
    its Idempotency-Key record has expired: the job keeps the key for good.
    """
    require_role(user, *ROLES_FOR_KIND[request.kind])
    if not EARLIEST <= request.date_from <= request.date_to <= LATEST:
        raise InvalidRequest(
            f"'from' must not be after 'to', both between {EARLIEST} and {LATEST}.",
            code="report_range_invalid",
        )
    if request.date_to < request.date_from:
        raise InvalidRequest("'to' is before 'from'.", code="report_range_invalid")
    if (request.date_to - request.date_from).days >= MAX_REPORT_DAYS:
        raise InvalidRequest(
            f"A report covers at most {MAX_REPORT_DAYS} days.", code="report_range_too_long"
        )
    with transaction.atomic():
        job, created = job_launch(
            kind=REPORT_JOB_KIND,
            task_name=BUILD_TASK,
            requested_by=user,
            idempotency_key=idempotency_key,
        )
        if created:
            Job.objects.filter(id=job.id).update(result={"request": request.as_dict()})
            audit_record(actor=user, action="report.request", obj=job, metadata=request.as_dict())
        elif (job.result or {}).get("request") != request.as_dict():
            raise Unprocessable(
                "This Idempotency-Key was already used for a report with other parameters.",
                code="idempotency_key_reused",
            )
    return job


def _bounds(user: User, request: ReportRequest) -> tuple[datetime, datetime]:
    """The period's days in the requester's own time zone, as UTC-aware instants."""
    tz = user.tzinfo
    start = datetime.combine(request.date_from, time.min, tzinfo=tz)
    end = datetime.combine(request.date_to + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def report_rows(
    *, user: User, request: ReportRequest
) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    start, end = _bounds(user, request)
    if request.kind == Kind.CASELOAD:
        return CASELOAD_COLUMNS, caseload_rows(clinician=user, start=start, end=end)
    return VOLUME_COLUMNS, appointment_volume_rows(staff=user, start=start, end=end)


def report_build(*, job_id: UUID | str) -> Job:
    """Worker side: render the file, finish the job, publish ``report.completed``.

    A redelivered or re-sent task returns a finished job as it is; an error fails the
    job with ``report_failed``; a build whose worker died is built again by the next claim.
    """
    return job_execute(job_id=job_id, kind=REPORT_JOB_KIND, work=_build, error_code="report_failed")


def _build(job: Job, lease: JobLease) -> Job:
    user = job.requested_by
    params: dict[str, Any] = (job.result or {}).get("request", {})
    if user is None or not user.is_active:
        return job_fail(
            job_id=job.id,
            errors=[{"code": "requester_gone", "message": "The requester no longer exists."}],
            lease=lease,
        )
    request = ReportRequest.from_dict(params)
    columns, rows = report_rows(user=user, request=request)
    lease.renew()
    title = f"{TITLES[request.kind]} {request.date_from} to {request.date_to}"
    if request.format == "pdf":
        content = render_pdf(
            title=title,
            subtitle=f"Requested by {user.full_name or user.email}",
            columns=columns,
            rows=rows,
        )
    else:
        content = render_csv(columns, rows)
    result = {"request": request.as_dict(), "rows": len(rows)}
    file_name = f"{request.kind}-{request.date_from}-{request.date_to}.{request.format}"
    with transaction.atomic():
        done = job_succeed(
            job_id=job.id, result=result, file_name=file_name, file_content=content, lease=lease
        )
        event_publish(
            name="report.completed",
            payload={"job_id": str(job.id), "requested_by": user.pk, **result},
            aggregate=("core.job", str(job.id)),
        )
    return done
