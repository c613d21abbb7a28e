"""The import from upload to finished job, on the real database (COPY path on PostgreSQL)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.core.files import File

from accounts.models import Hospital
from bulk_import import importer
from bulk_import.import_services import (
    IMPORT_JOB_KIND,
    hospital_import_run,
    hospital_import_start,
    upload_name,
)
from bulk_import.importer import MAX_REJECTS_IN_JOB
from core.jobs import job_claim
from core.models import Job, OutboxEvent
from tests.bulk_import.csvs import HEADER, hospital_row, write_hospital_csv
from tests.factories import HospitalFactory, StaffFactory

pytestmark = pytest.mark.django_db


def run_import(path: Path, user) -> Job:
    with path.open("rb") as handle:
        job = hospital_import_start(user=user, upload=File(handle, name=path.name))
    return hospital_import_run(job_id=job.id)


def table_rows() -> list[tuple[str, ...]]:
    return [
        tuple(str(v) for v in values)
        for values in Hospital.objects.order_by("code").values_list(*HEADER)
    ]


def rejects_csv(job: Job) -> list[list[str]]:
    with job.file.open("rb") as handle:
        return list(csv.reader(handle.read().decode().splitlines()))


class TestLargeImport:
    def test_100k_rows_import_exactly_and_a_second_run_changes_nothing(self, tmp_path):
        # given a 100,000-row directory file
        path = tmp_path / "directory.csv"
        write_hospital_csv(path, 100_000)
        staff = StaffFactory()

        # when staff import it
        job = run_import(path, staff)

        # then every row is in the table exactly as written, and the job says so
        assert job.status == Job.Status.SUCCEEDED
        assert job.progress == 100
        assert job.result["created"] == 100_000
        assert job.result["rows"] == 100_000
        assert (job.result["updated"], job.result["unchanged"], job.result["rejected"]) == (0, 0, 0)
        assert table_rows() == [hospital_row(i) for i in range(100_000)]
        assert OutboxEvent.objects.filter(name="import.completed").count() == 1

        # when the same file is imported again
        before = dict(Hospital.objects.values_list("code", "updated_at"))
        again = run_import(path, staff)

        # then nothing changed, not even a timestamp, and the result says so
        assert again.result["created"] == again.result["updated"] == 0
        assert again.result["unchanged"] == 100_000
        assert again.result["message"].startswith("No hospital changed")
        assert dict(Hospital.objects.values_list("code", "updated_at")) == before
        assert not Path(job.file.storage.path(upload_name(job.id))).exists()  # upload removed


class TestRejects:
    def test_one_percent_bad_rows_are_reported_and_the_rest_imported(self, tmp_path):
        # given 20,000 rows of which every 100th has a malformed postal code
        path = tmp_path / "directory.csv"
        bad_rows = write_hospital_csv(path, 20_000, bad_every=100)
        assert len(bad_rows) == 200

        # when imported
        job = run_import(path, StaffFactory())

        # then the good rows are in, and each bad row is reported with its number and field
        assert job.result["created"] == 19_800
        assert job.result["rejected"] == 200
        assert Hospital.objects.count() == 19_800
        assert [e["row"] for e in job.errors] == sorted(bad_rows)
        assert {e["field"] for e in job.errors} == {"postal_code"}
        first = min(bad_rows)
        assert job.errors[0]["message"] == (
            f"row {first}, postal_code: Enter a postal code of 3-12 letters, digits, "
            "spaces or hyphens."
        )
        lines = rejects_csv(job)
        assert lines[0] == ["row", "field", "message"]
        assert [int(line[0]) for line in lines[1:]] == sorted(bad_rows)

    def test_more_than_1000_rejects_are_all_in_the_file_and_the_first_in_the_job(self, tmp_path):
        path = tmp_path / "bad.csv"
        bad_rows = write_hospital_csv(path, 3_000, bad_every=2)

        job = run_import(path, StaffFactory())

        assert job.result["rejected"] == 1_500
        assert len(job.errors) == MAX_REJECTS_IN_JOB
        assert job.result["rejects_listed"] == MAX_REJECTS_IN_JOB
        assert [e["row"] for e in job.errors] == sorted(bad_rows)[:MAX_REJECTS_IN_JOB]
        assert len(rejects_csv(job)) == 1 + 1_500

    def test_duplicate_codes_keep_the_first_row_and_reject_the_others(self, tmp_path, monkeypatch):
        # given a code repeated inside one batch and across batches
        path = tmp_path / "dups.csv"
        rows = [hospital_row(i) for i in range(30)]
        rows.insert(5, hospital_row(2, name_suffix=" again"))  # file row 7 repeats row 4
        rows.append(hospital_row(0, name_suffix=" again"))  # the last row repeats row 2
        path.write_text(",".join(HEADER) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")

        # when imported in batches of 10 rows, so that the repeats span batches
        monkeypatch.setattr(importer, "IMPORT_BATCH_ROWS", 10)
        job = run_import(path, StaffFactory())

        # then the first occurrence wins and each repeat is a reject naming the first row
        assert job.result["created"] == 30
        assert [(e["row"], e["field"]) for e in job.errors] == [(7, "code"), (33, "code")]
        assert "duplicate of row 4" in job.errors[0]["message"]
        assert "duplicate of row 2" in job.errors[1]["message"]
        assert Hospital.objects.get(code="H0000002").name == "Example Hospital 2"
        assert Hospital.objects.get(code="H0000000").name == "Example Hospital 0"


class TestUpsert:
    def test_changed_rows_are_updated_and_others_untouched(self, tmp_path):
        # given hospitals already in the table, one of them different from the file
        HospitalFactory(code="H0000000", name="Old Name")
        same = HospitalFactory(**dict(zip(HEADER, hospital_row(1), strict=True)))
        path = tmp_path / "d.csv"
        write_hospital_csv(path, 3)

        job = run_import(path, StaffFactory())

        assert (job.result["created"], job.result["updated"], job.result["unchanged"]) == (1, 1, 1)
        assert Hospital.objects.get(code="H0000000").name == "Example Hospital 0"
        same_after = Hospital.objects.get(code="H0000001")
        assert same_after.updated_at == same.updated_at
        assert table_rows() == [hospital_row(i) for i in range(3)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_path_outside_a_transaction_streams_batches_with_the_same_result(tmp_path):
    """Outside a transaction (as in the worker) each batch is its own durable transaction,
    COPYed while it is read; a code repeated in a later batch is still a reject."""
    # given a file with bad rows and a code repeated across batches
    rows = [hospital_row(i) for i in range(25_000)]
    rows[5] = (*rows[5][:5], "!!", *rows[5][6:])  # file row 7: bad postal code
    rows.append(hospital_row(3, name_suffix=" again"))  # last row repeats file row 5
    path = tmp_path / "d.csv"
    path.write_text(",".join(HEADER) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")

    job = run_import(path, StaffFactory())

    assert job.result["created"] == 24_999
    assert [(e["row"], e["field"]) for e in job.errors] == [(7, "postal_code"), (25_002, "code")]
    assert Hospital.objects.count() == 24_999
    assert Hospital.objects.get(code="H0000003").name == "Example Hospital 3"


@pytest.mark.django_db(transaction=True)
def test_a_second_delivery_while_the_first_still_runs_does_nothing(tmp_path):
    # given an import whose first run holds the job (its claim's lease is live)
    path = tmp_path / "d.csv"
    write_hospital_csv(path, 10)
    with path.open("rb") as handle:
        job = hospital_import_start(user=StaffFactory(), upload=File(handle, name="d.csv"))
    first_run = job_claim(job_id=job.id, kind=IMPORT_JOB_KIND)
    assert first_run is not None

    # when the message is delivered again
    again = hospital_import_run(job_id=job.id)

    # then that delivery leaves the job and the table alone
    assert again.status == Job.Status.RUNNING
    assert again.attempt == first_run.attempt == 1
    assert again.lease_owner == first_run.owner
    assert Hospital.objects.count() == 0


class TestBrokenFiles:
    def test_malformed_rows_are_rejects_and_the_rest_imports(self, tmp_path):
        # given rows with too many fields, too few, and an unterminated quote at the end
        path = tmp_path / "broken.csv"
        path.write_bytes(
            b'code,name,city\nH1,One,Paris\nH2,Two,Lyon,extra\nH3\nH4,Four,Nice\nH5,"Five,Nantes\n'
        )

        job = run_import(path, StaffFactory())

        assert job.status == Job.Status.SUCCEEDED
        assert sorted(Hospital.objects.values_list("code", flat=True)) == ["H1", "H4"]
        assert [(e["row"], e["field"]) for e in job.errors] == [(3, "row"), (4, "row"), (6, "row")]
        assert "expected 3 columns" in job.errors[0]["message"]

    def test_a_file_that_became_unreadable_fails_the_job_with_a_reason(self, tmp_path):
        path = tmp_path / "ok.csv"
        write_hospital_csv(path, 2)
        with path.open("rb") as handle:
            job = hospital_import_start(user=StaffFactory(), upload=File(handle, name="ok.csv"))
        # the stored upload is replaced behind the job's back by bytes that are not UTF-8
        storage_path = Path(job.file.storage.path(upload_name(job.id)))
        storage_path.write_bytes(b"code,name\nH1,Caf\xe9\n")

        done = hospital_import_run(job_id=job.id)

        assert done.status == Job.Status.FAILED
        assert done.errors[0]["code"] == "csv_not_utf8"
        assert Hospital.objects.count() == 0


@pytest.mark.parametrize("second_run", [False, True])
def test_values_with_copy_special_characters_arrive_exactly(tmp_path, second_run):
    # given names and addresses holding what COPY's text format escapes (backslash, tab,
    # newline, carriage return), what it means by NULL (\N), and CSV quoting
    awkward = [
        "Back\\slash Clinic",
        "Tab\tSeparated Clinic",
        "Line\nbreak Clinic",
        "Carriage\rreturn Clinic",
        "\\N",
        'Quoted "Name", with comma',
        "Ünïcødé Klinik ✓",
    ]
    path = tmp_path / "awkward.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n, name in enumerate(awkward):
            writer.writerow(
                (f"AWK-{n}", name, f"{name} street", "", "", "", "", "")
            )  # fmt: skip
    staff = StaffFactory()
    if second_run:  # the staged upsert path (codes already in the table)
        run_import(path, staff)
        Hospital.objects.update(address="changed")
    # when imported
    job = run_import(path, staff)
    # then every value is stored exactly
    assert job.status == Job.Status.SUCCEEDED, job.errors
    stored = dict(Hospital.objects.values_list("code", "name"))
    assert stored == {f"AWK-{n}": name for n, name in enumerate(awkward)}
    addresses = dict(Hospital.objects.values_list("code", "address"))
    assert addresses == {f"AWK-{n}": f"{name} street" for n, name in enumerate(awkward)}
    assert job.result["updated" if second_run else "created"] == len(awkward)
