"""Retention (core.retention): machinery that must go goes, in batches; what must stay stays.

On PostgreSQL. Every purge is run with a fixed ``now`` and rows placed around its age:
well past it (goes), exactly at it (stays: only rows strictly older go), younger (stays),
and rows that must stay at any age (an undelivered outbox event, a running job's file, a
pending webhook delivery, every audit row, clinical records, notifications).
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from itertools import count

import pytest
from celery import states
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import GroupResult, TaskResult

from audit.models import AuditEvent
from bulk_import.import_services import UPLOAD_DIR
from core.audit import audit_record
from core.models import Job, OutboxDelivery, OutboxEvent
from core.retention import Batches, outbox_events_purge, registered_purges, retention_run
from notifications.models import Notification, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from scheduling.models import Appointment
from tests.core.test_outbox_worker import private_queue
from tests.factories import AppointmentFactory, PatientFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
__all__ = ["private_queue"]  # a fixture, imported

NOW = timezone.now().replace(microsecond=0)
DAY = timedelta(days=1)
_n = count()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _counted(kind: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("retention_deleted_total", {"kind": kind}) or 0.0


def _run(**kwargs) -> dict[str, int]:
    return retention_run(now=NOW, batches=Batches(batch_size=kwargs.pop("batch", 1000), seconds=60))


# --- outbox ---------------------------------------------------------------------------


def _event(*, delivered_at=None, created_days: float = 30) -> OutboxEvent:
    event = OutboxEvent.objects.create(
        name="test.retention", created_at=NOW - created_days * DAY, delivered_at=delivered_at
    )
    if delivered_at:
        OutboxDelivery.objects.create(event=event, subscriber="a", delivered_at=delivered_at)
        OutboxDelivery.objects.create(event=event, subscriber="b", delivered_at=delivered_at)
    return event


def test_delivered_outbox_events_older_than_the_age_go_with_their_deliveries(settings):
    # given the default age of 7 days and events around it
    settings.OUTBOX_RETENTION_DAYS = 7
    old = _event(delivered_at=NOW - 8 * DAY)
    just_past = _event(delivered_at=NOW - 7 * DAY - timedelta(seconds=1))
    at_age = _event(delivered_at=NOW - 7 * DAY)
    young = _event(delivered_at=NOW - 6 * DAY)
    undelivered = _event(delivered_at=None, created_days=400)

    # when the retention runs
    counted_before = _counted("outbox_events")
    deleted = _run()

    # then the two past the age went, with their delivery rows, and were counted; the
    # others stay
    assert deleted["outbox_events"] == 2
    assert _counted("outbox_events") == counted_before + 2
    kept = set(OutboxEvent.objects.values_list("id", flat=True))
    assert kept == {at_age.id, young.id, undelivered.id}
    assert not OutboxDelivery.objects.filter(event_id__in=[old.id, just_past.id]).exists()
    assert OutboxDelivery.objects.filter(event_id=at_age.id).count() == 2


def test_an_undelivered_outbox_event_never_goes_however_old(settings):
    settings.OUTBOX_RETENTION_DAYS = 0
    undelivered = _event(delivered_at=None, created_days=3650)
    _run()
    assert OutboxEvent.objects.filter(id=undelivered.id).exists()


def test_purges_delete_in_batches_of_the_configured_size(settings):
    # given 5 expired events and batches of 2
    settings.OUTBOX_RETENTION_DAYS = 7
    for _ in range(5):
        _event(delivered_at=NOW - 30 * DAY)

    # when the retention runs
    with CaptureQueriesContext(connection) as queries:
        deleted = _run(batch=2)

    # then three DELETE statements on the events table (2 + 2 + 1) took them all
    event_deletes = [
        q for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "core_outboxevent"')
    ]
    assert deleted["outbox_events"] == 5
    assert len(event_deletes) == 3
    assert not OutboxEvent.objects.exists()


def test_a_spent_time_budget_stops_the_run_and_the_next_run_continues(settings):
    # given 5 expired events, batches of 2 and a budget that ends after the first batch
    settings.OUTBOX_RETENTION_DAYS = 7
    for _ in range(5):
        _event(delivered_at=NOW - 30 * DAY)
    ticks = iter([0.0, 0.0])  # the start, the first batch's check; then past the end
    budget = Batches(batch_size=2, seconds=10, clock=lambda: next(ticks, 100.0))

    # when the outbox purge runs with that budget
    deleted = outbox_events_purge(budget, NOW)

    # then it deleted one batch and said the budget was spent, and a run with a spent
    # budget starts nothing; the next run takes the rest
    assert budget.exhausted
    assert deleted == 2
    assert retention_run(now=NOW, batches=budget) == {}
    assert OutboxEvent.objects.count() == 3
    assert _run()["outbox_events"] == 3
    assert not OutboxEvent.objects.exists()


# --- Celery results, sessions ----------------------------------------------------------


def _result(status: str, done_days: float) -> TaskResult:
    result = TaskResult.objects.create(task_id=str(uuid.uuid4()), status=status)
    TaskResult.objects.filter(pk=result.pk).update(date_done=NOW - done_days * DAY)
    return result


def test_finished_celery_results_past_their_age_go_and_unfinished_ones_stay(settings):
    # given an age of 1 day
    settings.CELERY_RESULT_RETENTION_DAYS = 1
    gone = [_result(states.SUCCESS, 2), _result(states.FAILURE, 2), _result(states.REVOKED, 5)]
    at_age = _result(states.SUCCESS, 1)
    young = _result(states.SUCCESS, 0.5)
    started = _result(states.STARTED, 30)  # a task still running long: its state stays
    group = GroupResult.objects.create(group_id=str(uuid.uuid4()))
    GroupResult.objects.filter(pk=group.pk).update(date_done=NOW - 2 * DAY)

    # when the retention runs
    deleted = _run()

    # then
    assert deleted["celery_results"] == len(gone) + 1
    assert set(TaskResult.objects.values_list("pk", flat=True)) == {
        at_age.pk,
        young.pk,
        started.pk,
    }
    assert not GroupResult.objects.exists()


def test_the_beat_runs_the_purge_hourly_and_celerys_unbatched_cleanup_is_off():
    assert django_settings.CELERY_BEAT_SCHEDULE["retention-purge"] == {
        "task": "core.retention_purge",
        "schedule": 3600.0,
    }
    assert django_settings.CELERY_RESULT_EXPIRES is None
    from config.celery import app

    app.loader.import_default_modules()  # what a worker imports at start
    assert "core.retention_purge" in app.tasks
    assert app.conf.result_expires is None  # so beat installs no celery.backend_cleanup


def test_expired_sessions_go_and_live_ones_stay():
    Session.objects.create(session_key="expired1", session_data="x", expire_date=NOW - DAY)
    Session.objects.create(session_key="at-now", session_data="x", expire_date=NOW)
    Session.objects.create(session_key="live", session_data="x", expire_date=NOW + DAY)
    assert _run()["sessions"] == 1
    assert set(Session.objects.values_list("session_key", flat=True)) == {"at-now", "live"}


# --- job files ---------------------------------------------------------------------------


def _job(status: str, finished_days: float | None, *, with_file: bool = True) -> Job:
    job = Job.objects.create(
        kind="test_report",
        status=status,
        finished_at=None if finished_days is None else NOW - finished_days * DAY,
    )
    if with_file:
        job.file.save(f"report-{next(_n)}.csv", ContentFile(b"patient,slot\n"), save=True)
    return job


def test_a_finished_jobs_file_goes_after_its_age_audited_and_a_running_jobs_stays(settings, media):
    # given an age of 30 days and jobs around it
    settings.JOB_FILE_RETENTION_DAYS = 30
    old_done = _job(Job.Status.SUCCEEDED, 31)
    old_failed = _job(Job.Status.FAILED, 45)
    at_age = _job(Job.Status.SUCCEEDED, 30)
    young = _job(Job.Status.SUCCEEDED, 2)
    running = _job(Job.Status.RUNNING, None)
    Job.objects.filter(pk=running.pk).update(created_at=NOW - 400 * DAY)
    queued = _job(Job.Status.QUEUED, None)
    paths = {job.pk: media / job.file.name for job in (old_done, old_failed, at_age, young)}
    paths |= {job.pk: media / job.file.name for job in (running, queued)}

    # when the retention runs
    deleted = _run()

    # then the two old finished jobs lost their files (rows and results kept), each with
    # a system audit row; the others keep theirs
    assert deleted["job_files"] == 2
    for job in (old_done, old_failed):
        job.refresh_from_db()
        assert job.file.name == ""
        assert not paths[job.pk].exists()
        row = AuditEvent.objects.get(action="job.file_purged", object_id=str(job.pk))
        assert row.actor_id is None
        assert row.metadata["retention_days"] == 30
    for job in (at_age, young, running, queued):
        job.refresh_from_db()
        assert job.file.name
        assert paths[job.pk].exists()
    # a second run finds nothing more (the purged jobs are not picked again)
    assert _run()["job_files"] == 0


def test_a_purged_jobs_download_answers_404_not_a_500(settings, media, client_for):
    # given a staff member's finished report whose file the retention removed
    from tests.factories import StaffFactory

    staff = StaffFactory()
    settings.JOB_FILE_RETENTION_DAYS = 30
    job = _job(Job.Status.SUCCEEDED, 31)
    Job.objects.filter(pk=job.pk).update(requested_by=staff)
    _run()
    # when it is downloaded, then a clear 404 in the envelope
    response = client_for(staff).get(f"/api/v1/jobs/{job.pk}/download/")
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "job_file_gone"
    # and the job itself still answers, its result saying when the file went
    detail = client_for(staff).get(f"/api/v1/jobs/{job.pk}/")
    assert detail.status_code == 200
    assert detail.json()["result"]["file_purged_at"]


def test_leftover_import_uploads_go_and_uploads_of_jobs_in_flight_stay(settings, media):
    # given uploads of an old finished import, a running import, a missing job (old and
    # young files) and the age of 30 days
    settings.JOB_FILE_RETENTION_DAYS = 30
    finished = _job(Job.Status.FAILED, 31, with_file=False)
    running = _job(Job.Status.RUNNING, None, with_file=False)
    Job.objects.filter(pk=running.pk).update(created_at=NOW - 90 * DAY)
    orphan_old, orphan_young = uuid.uuid4(), uuid.uuid4()
    for name in (finished.pk, running.pk, orphan_old, orphan_young):
        default_storage.save(f"{UPLOAD_DIR}/{name}.csv", ContentFile(b"name\n"))
    old_time = (NOW - 31 * DAY).timestamp()
    for name in (finished.pk, running.pk, orphan_old):
        os.utime(media / UPLOAD_DIR / f"{name}.csv", (old_time, old_time))

    # when the retention runs
    deleted = _run()

    # then
    assert deleted["import_uploads"] == 2
    assert sorted(default_storage.listdir(UPLOAD_DIR)[1]) == sorted(
        [f"{running.pk}.csv", f"{orphan_young}.csv"]
    )


# --- webhook deliveries ------------------------------------------------------------------


def _delivery(endpoint, status: str, created_days: float, **fields) -> WebhookDelivery:
    fields.setdefault("event_id", uuid.uuid4())
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="appointment.scheduled",
        payload={"id": next(_n)},
        status=status,
        **fields,
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=NOW - created_days * DAY)
    WebhookAttempt.objects.create(delivery=delivery, number=1, started_at=NOW, duration_ms=5)
    return delivery


def test_finished_webhook_deliveries_past_their_age_go_with_their_attempts(settings):
    # given an age of 30 days
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    endpoint = WebhookEndpoint.objects.create(
        name="partner", url="https://example.com/h", secret="s"
    )
    Status = WebhookDelivery.Status
    gone = [_delivery(endpoint, Status.SUCCEEDED, 31), _delivery(endpoint, Status.FAILED, 60)]
    at_age = _delivery(endpoint, Status.SUCCEEDED, 30)
    young = _delivery(endpoint, Status.FAILED, 3)
    pending = _delivery(endpoint, Status.PENDING, 90)
    redelivered = _delivery(endpoint, Status.FAILED, 40)
    redelivery = _delivery(
        endpoint, Status.SUCCEEDED, 1, redelivery_of=redelivered, event_id=redelivered.event_id
    )

    # when the retention runs
    deleted = _run()

    # then the old finished ones went with their attempts; an original whose redelivery
    # is kept stays with it
    assert deleted["webhook_deliveries"] == len(gone)
    kept = {at_age.pk, young.pk, pending.pk, redelivered.pk, redelivery.pk}
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == kept
    assert set(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == kept


# --- refresh tokens ------------------------------------------------------------------------


def _token(user, expires_at, *, blacklisted: bool = False):
    from rest_framework_simplejwt.token_blacklist.models import (
        BlacklistedToken,
        OutstandingToken,
    )

    token = OutstandingToken.objects.create(
        user=user, jti=uuid.uuid4().hex, token="t", created_at=NOW - 30 * DAY, expires_at=expires_at
    )
    if blacklisted:
        BlacklistedToken.objects.create(token=token)
    return token


def test_expired_refresh_tokens_go_blacklisted_or_not_and_live_ones_stay():
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    # given expired tokens (one blacklisted), one expiring now, live ones (one blacklisted)
    user = PatientFactory()
    gone = [_token(user, NOW - DAY), _token(user, NOW - DAY, blacklisted=True)]
    kept = [
        _token(user, NOW),
        _token(user, NOW + DAY),
        _token(user, NOW + DAY, blacklisted=True),
    ]

    # when the retention runs
    deleted = _run()

    # then the expired ones went with their blacklist rows; a live blacklisted one stays
    assert deleted["refresh_tokens"] == len(gone)
    assert set(OutstandingToken.objects.values_list("pk", flat=True)) == {t.pk for t in kept}
    assert list(BlacklistedToken.objects.values_list("token_id", flat=True)) == [kept[2].pk]


# --- what is never deleted ------------------------------------------------------------------


def test_retention_never_touches_audit_rows_clinical_records_or_notifications(settings, media):
    # given every age at zero, ten-year-old audit rows, an appointment, a notification,
    # and a finished job whose file will be purged
    for name in (
        "OUTBOX_RETENTION_DAYS",
        "CELERY_RESULT_RETENTION_DAYS",
        "JOB_FILE_RETENTION_DAYS",
        "WEBHOOK_DELIVERY_RETENTION_DAYS",
    ):
        setattr(settings, name, 0)
    patient = PatientFactory()
    appointment = AppointmentFactory(patient=patient)
    with transaction.atomic():
        audit_record(actor=None, action="test.recent", obj=appointment)
    for _ in range(3):  # inserted as if written ten years ago (rows cannot be updated)
        AuditEvent.objects.create(action="test.ancient", occurred_at=NOW - 3650 * DAY)
    notification = Notification.objects.create(
        recipient=patient,
        event_id=uuid.uuid4(),
        kind=Notification.Kind.APPOINTMENT_SCHEDULED,
        status=Notification.Status.SENT,
        sent_at=NOW - 3000 * DAY,
    )
    Notification.objects.filter(pk=notification.pk).update(created_at=NOW - 3000 * DAY)
    _job(Job.Status.SUCCEEDED, 1)
    audit_before = set(AuditEvent.objects.values_list("pk", flat=True))

    # when every purge runs, far in the future
    with CaptureQueriesContext(connection) as queries:
        retention_run(now=NOW + 3650 * DAY, batches=Batches(batch_size=1000, seconds=60))

    # then no statement deleted or changed an audit row (only the purge's own INSERT), and
    # every audit row, the appointment and the notification are still there
    for query in queries.captured_queries:
        sql = query["sql"].upper()
        if "AUDIT_" in sql:
            assert sql.lstrip().startswith(("SELECT", "INSERT")), query["sql"]
    assert audit_before <= set(AuditEvent.objects.values_list("pk", flat=True))
    assert AuditEvent.objects.filter(action="job.file_purged").count() == 1
    assert Appointment.objects.filter(pk=appointment.pk).exists()
    assert Notification.objects.filter(pk=notification.pk).exists()


def test_every_purge_is_known_and_none_names_a_kept_table():
    # the registry is exactly the documented set (docs/retention.md), so a new purge is a
    # decision someone writes down
    assert set(registered_purges()) == {
        "outbox_events",
        "celery_results",
        "sessions",
        "job_files",
        "webhook_deliveries",
        "import_uploads",
        "refresh_tokens",
    }


# --- through a real worker ----------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_runs_the_purges_on_a_real_worker(settings, private_queue):
    # given an expired delivered event and a fresh one
    from tests.core.test_outbox_worker import running_worker

    settings.OUTBOX_RETENTION_DAYS = 7
    expired = _event(delivered_at=timezone.now() - 8 * DAY)
    fresh = _event(delivered_at=timezone.now())

    # when beat's task runs on a Celery worker
    from core.tasks import retention_purge

    with running_worker(private_queue):
        deleted = retention_purge.apply_async(queue=private_queue).get(timeout=60)

    # then the worker deleted the expired one and said so
    assert deleted["outbox_events"] == 1
    assert not OutboxEvent.objects.filter(id=expired.id).exists()
    assert OutboxEvent.objects.filter(id=fresh.id).exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_delete_each_row_once_and_fail_nowhere(settings):
    # given 300 expired delivered events and two beat runs overlapping (a slow run and the
    # next hour's), in two threads with their own connections
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    settings.OUTBOX_RETENTION_DAYS = 7
    for _ in range(300):
        _event(delivered_at=NOW - 30 * DAY)

    def run() -> int:
        try:
            budget = Batches(batch_size=25, seconds=60)
            return retention_run(now=NOW, batches=budget)["outbox_events"]
        finally:
            connections.close_all()

    # when both run at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [future.result() for future in [pool.submit(run), pool.submit(run)]]

    # then neither failed, every row went once, and no delivery row is left behind
    assert sum(results) == 300
    assert not OutboxEvent.objects.exists()
    assert not OutboxDelivery.objects.exists()
