from __future__ import annotations

from celery import shared_task

from reports.services import report_build


@shared_task(name="reports.build_report", acks_late=True, reject_on_worker_lost=True)
def build_report(job_id: str) -> str:
    # Redelivery, or a re-send by the jobs sweep, is harmless: the claim lets one worker
    # build it, and a finished job is returned as it is.
    return str(report_build(job_id=job_id).status)
