"""The one helper every surface calls when it shows clinical content: ``audit_read``.

SPEC invariant 5: every read of another person's clinical record writes an audit row in
the same transaction. The API, the clinician dashboard, the admin's change lists and
change forms, the prescription PDF and job-file downloads all call ``audit_read``, so a
read row has one shape wherever it was written:

* one row per record shown (a page writes a row for each record on it, in one INSERT per
  kind of record), ``object_type``/``object_id`` naming the record, so "who saw record
  X" is an indexed lookup however the record was reached;
* ``action`` ``"<record>.read"`` (``"consultation.read"``, ``"job_file.read"``, ...);
* ``metadata`` ``{"surface": ..., "patient_id": ...}``: where it was read, and whose
  record it is (omitted for a file that covers many patients, such as a report).

A patient reading their own record is not audited (it is not another person's record);
a record with no single patient (``patient_id=None``) is always audited.

Core knows no domain: callers pass the record and its patient id.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, NamedTuple

from django.db import transaction

from core.audit import ObjectRef, audit_record_many


class ReadSurface(StrEnum):
    """Where a record was read: the ``surface`` of its audit row."""

    API = "api"
    PRESCRIPTION_PDF = "api.prescription_pdf"
    JOB_DOWNLOAD = "api.job_download"
    DASHBOARD_CONSULTATION = "dashboard.consultation"
    DASHBOARD_CLIENT = "dashboard.client"
    DASHBOARD_REPORT_DOWNLOAD = "dashboard.report_download"
    ADMIN_CHANGE_LIST = "admin.change_list"
    ADMIN_CHANGE_FORM = "admin.change_form"
    ADMIN_EXPORT = "admin.export_csv"
    CALENDAR_FEED = "calendar.feed"  # a clinician's feed with patient names and reasons


class Read(NamedTuple):
    """One record shown: ``action`` such as ``"consultation.read"``, the record, and the
    patient it belongs to (None for a file that covers many patients)."""

    action: str
    record: ObjectRef
    patient_id: int | None


def audit_read(*, actor: Any, surface: ReadSurface, reads: Iterable[Read]) -> None:
    """Write one row per ``Read`` that ``actor`` saw on ``surface``, skipping the actor's
    own records, in one INSERT per kind of record. Joins the caller's transaction when
    there is one (the read and its rows commit together), else runs in its own."""
    actor_id = getattr(actor, "pk", None)
    by_action: dict[str, list[tuple[ObjectRef, dict[str, Any]]]] = {}
    for action, record, patient_id in reads:
        if patient_id is not None and patient_id == actor_id:
            continue
        by_action.setdefault(action, []).append((record, _metadata(surface, patient_id)))
    if not by_action:
        return
    # No savepoint: a failed audit INSERT must fail the whole read, not be rolled past.
    with transaction.atomic(savepoint=False):
        for action, records in by_action.items():
            audit_record_many(actor=actor, action=action, records=records)


def _metadata(surface: ReadSurface, patient_id: int | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"surface": surface.value}
    if patient_id is not None:
        metadata["patient_id"] = patient_id
    return metadata
