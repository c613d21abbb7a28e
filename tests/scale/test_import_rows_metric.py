"""``import_rows_total`` counts the rows a bulk import writes, once each batch commits."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from django.core.files import File
from django.db import DatabaseError
from prometheus_client import REGISTRY

from accounts.models import Hospital
from bulk_import import import_services, importer
from bulk_import.import_services import hospital_import_run, hospital_import_start
from core.models import Job
from tests.bulk_import.csvs import write_hospital_csv
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def imported_rows() -> float:
    return REGISTRY.get_sample_value("import_rows_total") or 0.0


def test_each_committed_batch_adds_its_rows(
    tmp_path: Path, monkeypatch, django_capture_on_commit_callbacks
):
    # given a 250-row file with 5 bad rows, imported in batches of 100
    monkeypatch.setattr(importer, "IMPORT_BATCH_ROWS", 100)
    path = tmp_path / "hospitals.csv"
    bad = write_hospital_csv(path, 250, bad_every=50)
    with path.open("rb") as handle:
        job = hospital_import_start(user=StaffFactory(), upload=File(handle, name=path.name))
    before = imported_rows()

    # when the worker runs it and its batches commit
    with django_capture_on_commit_callbacks(execute=True):
        finished = hospital_import_run(job_id=job.id)

    # then the counter grew by the rows written (the rejected ones are not counted)
    assert finished.status == Job.Status.SUCCEEDED
    assert imported_rows() - before == 250 - len(bad)


def test_a_rolled_back_batch_is_not_counted(
    tmp_path: Path, monkeypatch, django_capture_on_commit_callbacks
):
    # given a file whose batch is written, but whose transaction then fails (the
    # checkpoint cannot be stored), so the rows roll back
    path = tmp_path / "hospitals.csv"
    write_hospital_csv(path, 20)
    with path.open("rb") as handle:
        job = hospital_import_start(user=StaffFactory(), upload=File(handle, name=path.name))
    before = imported_rows()

    def checkpoint_fails(*args: object, **kwargs: object) -> None:
        raise DatabaseError("could not write the checkpoint")

    monkeypatch.setattr(import_services, "_record_checkpoint", checkpoint_fails)

    # when the worker runs it
    with django_capture_on_commit_callbacks(execute=True), contextlib.suppress(DatabaseError):
        hospital_import_run(job_id=job.id)

    # then no row was counted, and none is in the table
    assert imported_rows() == before
    assert not Hospital.objects.exists()
