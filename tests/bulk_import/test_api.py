"""POST /api/v1/hospitals/bulk/: staff only, header checked up front, 202 with the job."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Hospital
from core.models import IdempotencyRecord, Job
from tests.bulk_import.csvs import HEADER, csv_bytes, hospital_row
from tests.factories import DoctorFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/hospitals/bulk/"


def upload(data: bytes, name: str = "directory.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def post(client, data: bytes | None, key: str | None = None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"file": upload(data)} if data is not None else {}
    return client.post(URL, body, format="multipart", **headers, **extra)


@pytest.fixture
def staff_client(client_for):
    return client_for(StaffFactory())


def assert_nothing_created(hospitals: int = 0):
    assert Job.objects.count() == 0
    assert Hospital.objects.count() == hospitals


class TestAccepted:
    def test_staff_upload_answers_202_with_a_queued_job(self, staff_client):
        response = post(staff_client, csv_bytes([hospital_row(1)]))

        assert response.status_code == 202
        job = Job.objects.get()
        assert response.json() == {"job_id": str(job.id), "status": "queued"}
        assert job.kind == "hospital_import"

    def test_bom_and_any_column_order_are_accepted(self, staff_client):
        header = tuple(reversed(HEADER))
        row = tuple(reversed(hospital_row(1)))
        response = post(staff_client, csv_bytes([row], header=header, bom=True))
        assert response.status_code == 202


class TestIdempotency:
    def test_same_key_and_file_twice_makes_one_job(self, staff_client):
        data = csv_bytes([hospital_row(1)])

        first = post(staff_client, data, key="import-1")
        second = post(staff_client, data, key="import-1")

        assert first.status_code == second.status_code == 202
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert Job.objects.count() == 1

    def test_same_key_with_another_file_is_422(self, staff_client):
        post(staff_client, csv_bytes([hospital_row(1)]), key="import-1")

        response = post(staff_client, csv_bytes([hospital_row(2)]), key="import-1")

        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert Job.objects.count() == 1

    def test_keys_are_per_user(self, client_for):
        data = csv_bytes([hospital_row(1)])
        post(client_for(StaffFactory()), data, key="k")
        response = post(client_for(StaffFactory()), data, key="k")
        assert response.status_code == 202
        assert Job.objects.count() == 2


class TestRefused:
    @pytest.mark.parametrize(
        ("header", "missing", "unknown"),
        [
            (("name", "city"), ["code"], []),
            (("code", "city"), ["name"], []),
            (("code", "name", "zip", "email"), [], ["email", "zip"]),
        ],
    )
    def test_wrong_header_is_400_naming_the_columns(self, staff_client, header, missing, unknown):
        response = post(staff_client, csv_bytes([("x",) * len(header)], header=header))

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "csv_header_invalid"
        assert error["details"]["missing_columns"] == missing
        assert error["details"]["unknown_columns"] == unknown
        for name in missing + unknown:
            assert name in error["message"]
        assert_nothing_created()

    def test_duplicated_column_is_400(self, staff_client):
        response = post(staff_client, csv_bytes([], header=("code", "name", "name")))
        assert response.status_code == 400
        assert response.json()["error"]["details"]["duplicated_columns"] == ["name"]
        assert_nothing_created()

    @pytest.mark.parametrize(
        ("data", "code"),
        [
            (b"", "csv_empty"),
            (b"   \n\n", "csv_empty"),
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "csv_not_text"),
            ("code,name\nH1,Clinique é\n".encode("latin-1"), "csv_not_utf8"),
            (b"code,name\n" + b"H1,ok\n" * 10 + b"\x00\x01binary", "csv_not_text"),
        ],
    )
    def test_empty_binary_or_undecodable_file_is_400(self, staff_client, data, code):
        response = post(staff_client, data)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
        assert_nothing_created()

    def test_missing_file_field_is_400(self, staff_client):
        response = staff_client.post(URL, {"other": "x"}, format="multipart")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "file_missing"
        assert_nothing_created()

    def test_json_body_is_415(self, staff_client):
        response = staff_client.post(URL, {"file": "code,name"}, format="json")
        assert response.status_code == 415
        assert "error" in response.json()
        assert_nothing_created()

    def test_oversized_file_is_413_in_the_envelope(self, staff_client, settings):
        settings.BULK_IMPORT_MAX_UPLOAD_BYTES = 100
        data = csv_bytes([hospital_row(i) for i in range(20)])

        response = post(staff_client, data)

        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "upload_too_large"
        assert error["details"]["max_bytes"] == 100
        assert error["request_id"]
        assert_nothing_created()

    def test_oversized_body_is_refused_from_content_length_alone(self, staff_client, settings):
        settings.BULK_IMPORT_MAX_UPLOAD_BYTES = 1000
        response = staff_client.generic(
            "POST",
            URL,
            b"x" * 10,
            content_type="multipart/form-data; boundary=b",
            CONTENT_LENGTH=str(10_000_000),
        )
        assert response.status_code == 413
        assert_nothing_created()

    @pytest.mark.parametrize("factory", [PatientFactory, DoctorFactory])
    def test_non_staff_is_403(self, client_for, factory):
        client = client_for(factory())
        hospitals = Hospital.objects.count()  # a clinician's profile has one
        response = post(client, csv_bytes([hospital_row(1)]))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert_nothing_created(hospitals)

    def test_anonymous_is_401(self, api_client):
        response = post(api_client, csv_bytes([hospital_row(1)]))
        assert response.status_code == 401
        assert_nothing_created()

    def test_refused_upload_with_a_key_replays_the_refusal(self, staff_client):
        bad = csv_bytes([], header=("name",))
        first = post(staff_client, bad, key="k1")
        again = post(staff_client, bad, key="k1")
        assert first.status_code == again.status_code == 400
        assert IdempotencyRecord.objects.count() == 1
        assert_nothing_created()


class TestJobVisibility:
    def test_an_import_job_is_404_to_non_staff_and_unknown_ids_are_404(
        self, staff_client, client_for
    ):
        job_id = post(staff_client, csv_bytes([hospital_row(1)])).json()["job_id"]
        patient = client_for(PatientFactory())

        assert staff_client.get(f"/api/v1/jobs/{job_id}/").json()["kind"] == "hospital_import"
        assert patient.get(f"/api/v1/jobs/{job_id}/").status_code == 404
        assert patient.get(f"/api/v1/jobs/{job_id}/download/").status_code == 404
        missing = "/api/v1/jobs/11111111-1111-1111-1111-111111111111/"
        assert staff_client.get(missing).status_code == 404
        # before it has run there is no rejects file yet
        response = staff_client.get(f"/api/v1/jobs/{job_id}/download/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_file_not_ready"
