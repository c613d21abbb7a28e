"""Job records: lifecycle services and the polling API (owner or staff; others 404)."""

from __future__ import annotations

import uuid

import pytest

from core.errors import Conflict, InvalidRequest
from core.jobs import (
    job_create,
    job_fail,
    job_get_or_create,
    job_progress,
    job_run,
    job_start,
    job_succeed,
)
from core.models import Job
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


# --- services ---------------------------------------------------------------------------


def test_lifecycle_queued_running_succeeded_with_progress_and_file():
    owner = StaffFactory()
    appointment = AppointmentFactory()
    job = job_create(kind="report", requested_by=owner, subject=appointment)
    assert (job.status, job.progress, job.subject_type, job.subject_id) == (
        "queued",
        0,
        "scheduling.appointment",
        str(appointment.pk),
    )
    job_start(job_id=job.id)
    job_progress(job_id=job.id, progress=40)
    job_progress(job_id=job.id, progress=20)  # never backwards
    assert Job.objects.get(id=job.id).progress == 40
    job_succeed(
        job_id=job.id, result={"rows": 3}, file_name="report.csv", file_content=b"a,b\n1,2\n"
    )
    stored = Job.objects.get(id=job.id)
    assert stored.status == "succeeded"
    assert stored.progress == 100
    assert stored.result == {"rows": 3}
    assert stored.started_at <= stored.finished_at
    assert stored.file.read() == b"a,b\n1,2\n"


def test_fail_records_errors_and_a_finished_job_cannot_restart():
    job = job_create(kind="hospital_import")
    job_start(job_id=job.id)
    job_fail(job_id=job.id, errors=[{"row": 17, "field": "postal_code", "message": "Too long"}])
    stored = Job.objects.get(id=job.id)
    assert stored.status == "failed"
    assert stored.errors == [{"row": 17, "field": "postal_code", "message": "Too long"}]
    assert stored.finished_at is not None
    with pytest.raises(Conflict):
        job_start(job_id=job.id)
    with pytest.raises(Conflict):
        job_succeed(job_id=job.id)


def test_progress_outside_0_100_is_refused():
    job = job_create(kind="report")
    job_start(job_id=job.id)
    with pytest.raises(InvalidRequest):
        job_progress(job_id=job.id, progress=101)
    assert Job.objects.get(id=job.id).progress == 0


def test_idempotency_key_is_per_user_and_kind():
    alice, bob = StaffFactory(), StaffFactory()
    first, created = job_get_or_create(kind="import", requested_by=alice, idempotency_key="k1")
    again, created_again = job_get_or_create(
        kind="import", requested_by=alice, idempotency_key="k1"
    )
    other_user, _ = job_get_or_create(kind="import", requested_by=bob, idempotency_key="k1")
    other_kind, _ = job_get_or_create(kind="report", requested_by=alice, idempotency_key="k1")
    assert created
    assert not created_again
    assert again.id == first.id
    assert len({first.id, other_user.id, other_kind.id}) == 3
    with pytest.raises(Conflict) as raised:
        job_create(kind="import", requested_by=alice, idempotency_key="k1")
    assert raised.value.details == {"job_id": str(first.id)}


def test_job_run_does_the_work_once_per_key():
    calls = []

    def work(job):
        calls.append(job.id)
        return {"done": True}

    first = job_run(kind="system.task", work=work, idempotency_key="event:1")
    second = job_run(kind="system.task", work=work, idempotency_key="event:1")
    assert first.id == second.id
    assert len(calls) == 1
    assert Job.objects.get(id=first.id).result == {"done": True}


def test_job_run_records_the_failure():
    def work(job):
        raise ValueError("upstream said no")

    with pytest.raises(ValueError, match="upstream said no"):
        job_run(kind="system.task", work=work, idempotency_key="event:2")
    job = Job.objects.get(kind="system.task")
    assert job.status == "failed"
    assert job.errors == [{"code": "ValueError", "message": "upstream said no"}]


def test_secrets_never_reach_job_results():
    job = job_create(kind="report")
    job_start(job_id=job.id)
    job_succeed(job_id=job.id, result={"rows": 1, "api_key": "k", "nested": {"token": "t"}})
    assert Job.objects.get(id=job.id).result == {"rows": 1, "nested": {}}


# --- API ----------------------------------------------------------------------------------


def url(job_id, suffix: str = "") -> str:
    return f"/api/v1/jobs/{job_id}/{suffix}"


def test_owner_polls_their_job(client_for):
    owner = PatientFactory()
    job = job_create(kind="report", requested_by=owner)
    job_start(job_id=job.id)
    job_progress(job_id=job.id, progress=55)
    response = client_for(owner).get(url(job.id))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(job.id)
    assert body["status"] == "running"
    assert body["progress"] == 55
    assert body["result"] is None
    assert body["errors"] == []
    assert body["download_url"] is None
    assert body["subject"] is None
    assert body["started_at"] is not None


def test_staff_sees_any_job(client_for):
    job = job_create(kind="report", requested_by=PatientFactory())
    assert client_for(StaffFactory()).get(url(job.id)).status_code == 200


@pytest.mark.parametrize("viewer", [PatientFactory, DoctorFactory])
def test_another_users_job_is_404(client_for, viewer):
    job = job_create(kind="report", requested_by=PatientFactory())
    response = client_for(viewer()).get(url(job.id))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"


def test_system_job_is_staff_only(client_for):
    job = job_create(kind="system.task")
    assert client_for(PatientFactory()).get(url(job.id)).status_code == 404
    assert client_for(StaffFactory()).get(url(job.id)).status_code == 200


def test_unknown_and_malformed_ids_are_404(client_for):
    client = client_for(StaffFactory())
    assert client.get(url(uuid.uuid4())).json()["error"]["code"] == "job_not_found"
    response = client.get("/api/v1/jobs/not-a-uuid/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_anonymous_is_401(api_client):
    job = job_create(kind="report")
    response = api_client.get(url(job.id))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_jobs_are_read_only_over_the_api(client_for, method):
    owner = StaffFactory()
    job = job_create(kind="report", requested_by=owner)
    response = getattr(client_for(owner), method)(
        url(job.id), {"status": "succeeded"}, format="json"
    )
    assert response.status_code == 405
    assert Job.objects.get(id=job.id).status == "queued"


def test_download_is_404_until_the_file_exists_then_served(client_for):
    owner = PatientFactory()
    job = job_create(kind="report", requested_by=owner)
    client = client_for(owner)
    response = client.get(url(job.id, "download/"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_file_not_ready"

    job_start(job_id=job.id)
    job_succeed(job_id=job.id, result={}, file_name="report.csv", file_content=b"x,y\n")
    assert client.get(url(job.id)).json()["download_url"] == url(job.id, "download/")
    response = client.get(url(job.id, "download/"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"x,y\n"
    assert 'attachment; filename="report.csv"' in response["Content-Disposition"]
    # another user still cannot fetch it
    assert client_for(PatientFactory()).get(url(job.id, "download/")).status_code == 404


def test_download_of_a_file_gone_from_storage_is_404(client_for, settings):
    owner = StaffFactory()
    job = job_create(kind="report", requested_by=owner)
    job_start(job_id=job.id)
    job = job_succeed(job_id=job.id, file_name="r.csv", file_content=b"1")
    job.file.storage.delete(job.file.name)
    response = client_for(owner).get(url(job.id, "download/"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_file_gone"
