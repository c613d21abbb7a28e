"""The admin upload page starts the same import job as the API and shows its progress."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bulk_import.import_services import hospital_import_run
from core.models import Job
from tests.bulk_import.csvs import csv_bytes, hospital_row
from tests.factories import DoctorFactory, StaffFactory

pytestmark = pytest.mark.django_db
ADD = "/admin/bulk_import/hospitalimportjob/add/"


@pytest.fixture
def staff_browser():
    client = Client()
    client.force_login(StaffFactory())
    return client


def test_upload_page_starts_the_job_and_follows_its_progress(staff_browser):
    # given the upload page
    assert b"Start import" in staff_browser.get(ADD).content

    # when staff upload a CSV
    data = csv_bytes([hospital_row(i) for i in range(3)])
    response = staff_browser.post(ADD, {"file": SimpleUploadedFile("d.csv", data)})

    # then the job exists, and its page shows it queued and refreshing itself
    job = Job.objects.get(kind="hospital_import")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/bulk_import/hospitalimportjob/{job.pk}/change/"
    page = staff_browser.get(response["Location"]).content.decode()
    assert "queued" in page
    assert 'http-equiv="refresh"' in page

    # and once the worker has run it, the page shows the result without refreshing
    hospital_import_run(job_id=job.id)
    page = staff_browser.get(response["Location"]).content.decode()
    assert "3 hospitals created" in page
    assert 'http-equiv="refresh"' not in page
    assert f"/api/v1/jobs/{job.id}/download/" in page


def test_a_wrong_header_is_shown_on_the_form_and_starts_nothing(staff_browser):
    data = csv_bytes([("x",)], header=("colour",))
    response = staff_browser.post(ADD, {"file": SimpleUploadedFile("d.csv", data)})

    assert response.status_code == 200
    assert "missing required columns code, name" in response.content.decode()
    assert Job.objects.count() == 0


def test_non_staff_cannot_reach_the_upload_page():
    client = Client()
    client.force_login(DoctorFactory())
    response = client.post(ADD, {"file": SimpleUploadedFile("d.csv", b"code,name\nH1,A\n")})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert Job.objects.count() == 0
