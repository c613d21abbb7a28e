"""The jobs list: a finished hospital import (two more fake hospitals) and a finished
caseload report, each started and run through its app's services as the worker would
run it. Added once: a demo account that already started one gets no second.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.files.uploadedfile import SimpleUploadedFile

from bulk_import.import_services import IMPORT_JOB_KIND, hospital_import_run, hospital_import_start
from core.models import Job
from dashboard.demo.log import DemoLog
from dashboard.demo.people import CLEO, Cast
from reports.services import REPORT_JOB_KIND, Kind, ReportRequest, report_build, report_request

IMPORT_CSV = (
    "code,name,address,city,region,postal_code,country,phone\n"
    "DEMO-NORTH,Demo North Hospital (fictional),2 Example Street,Exampleton,"
    "Demo Region,10117,DE,+49 30 0000 0001\n"
    "DEMO-SOUTH,Demo South Hospital (fictional),3 Sample Road,Sampleville,"
    "Demo Region,10119,DE,+49 30 0000 0002\n"
)
REPORT_WEEKS = 8


def jobs_seed(cast: Cast, *, now: datetime, log: DemoLog) -> None:
    _hospital_import(cast, log)
    _report(cast, now=now, log=log)


def _hospital_import(cast: Cast, log: DemoLog) -> None:
    if Job.objects.filter(kind=IMPORT_JOB_KIND, requested_by=cast.admin).exists():
        return
    upload = SimpleUploadedFile("demo-hospitals.csv", IMPORT_CSV.encode(), content_type="text/csv")
    job = hospital_import_start(user=cast.admin, upload=upload)
    done = hospital_import_run(job_id=job.id)
    log.created(f"hospital import job {done.id} ({done.status})")


def _report(cast: Cast, *, now: datetime, log: DemoLog) -> None:
    clinician = cast.clinician(CLEO)
    if Job.objects.filter(kind=REPORT_JOB_KIND, requested_by=clinician).exists():
        return
    today = now.astimezone(clinician.tzinfo).date()
    request = ReportRequest(
        kind=Kind.CASELOAD,
        date_from=today - timedelta(weeks=REPORT_WEEKS),
        date_to=today,
        format="pdf",
    )
    job = report_request(user=clinician, request=request)
    done = report_build(job_id=job.id)
    log.created(f"caseload report job {done.id} ({done.status})")
