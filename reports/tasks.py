from __future__ import annotations

from celery import shared_task

from reports.services import report_build


@shared_task(name="reports.build_report", acks_late=True, reject_on_worker_lost=True)
def build_report(job_id: str) -> str:
    # Re-delivery is harmless: a finished job is returned as it is.
    return str(report_build(job_id=job_id).status)
