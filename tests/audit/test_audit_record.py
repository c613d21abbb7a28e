"""core.audit.audit_record: one row in the caller's transaction, never secrets."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.models import Hospital
from audit.models import AuditEvent
from core.audit import (
    AuditOutsideTransaction,
    audit_record,
    diff,
    reset_client_ip,
    set_client_ip,
    snapshot,
)
from core.request_context import reset_request_id, set_request_id
from tests.factories import DoctorFactory, HospitalFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_records_actor_role_object_changes_request_id_and_ip():
    # given a doctor renaming a hospital during a request
    doctor = DoctorFactory()
    hospital = HospitalFactory(name="Old name")
    request_token = set_request_id("req-audit-0001")
    ip_token = set_client_ip("203.0.113.9")
    try:
        with transaction.atomic():
            before = snapshot(hospital, ["name", "city"])
            hospital.name = "New name"
            hospital.save()
            # when the change is audited
            row = audit_record(
                actor=doctor,
                action="hospital.update",
                obj=hospital,
                changes=diff(before, snapshot(hospital, ["name", "city"])),
                metadata={"source": "test"},
            )
    finally:
        reset_client_ip(ip_token)
        reset_request_id(request_token)
    # then one row names who, what, which object, what changed, and where from
    stored = AuditEvent.objects.get()
    assert stored.pk == row.pk
    assert stored.actor_id == doctor.pk
    assert stored.actor_role == "doctor"
    assert stored.action == "hospital.update"
    assert (stored.object_type, stored.object_id) == ("accounts.hospital", str(hospital.pk))
    assert stored.changes == {"name": {"before": "Old name", "after": "New name"}}
    assert stored.metadata == {"source": "test"}
    assert stored.request_id == "req-audit-0001"
    assert stored.ip_address == "203.0.113.9"
    assert stored.occurred_at is not None


def test_secret_looking_keys_are_dropped_at_any_depth():
    patient = PatientFactory()
    with transaction.atomic():
        audit_record(
            actor=patient,
            action="user.update",
            obj=("accounts.user", patient.pk),
            changes={
                "password": {"before": "x", "after": "y"},
                "email": {"before": "a@example.test", "after": "b@example.test"},
            },
            metadata={"nested": {"refresh_token": "abc", "api_key": "k", "kept": 1}},
        )
    row = AuditEvent.objects.get()
    assert row.changes == {"email": {"before": "a@example.test", "after": "b@example.test"}}
    assert row.metadata == {"nested": {"kept": 1}}
    assert (row.object_type, row.object_id) == ("accounts.user", str(patient.pk))


def test_system_actor_has_no_id_or_role():
    with transaction.atomic():
        audit_record(actor=None, action="job.run")
    row = AuditEvent.objects.get()
    assert (row.actor_id, row.actor_role, row.object_type, row.object_id) == (None, "", "", "")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_refuses_and_writes_nothing():
    with pytest.raises(AuditOutsideTransaction):
        audit_record(actor=None, action="hospital.update", obj=("accounts.hospital", 1))
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_leaves_no_audit_row():
    # given a change and its audit row in one transaction that then fails
    doctor = DoctorFactory()

    def change_that_fails_after_auditing() -> None:
        with transaction.atomic():
            hospital = Hospital.objects.create(code="RB-1", name="Rolled back")
            audit_record(actor=doctor, action="hospital.create", obj=hospital)
            raise RuntimeError("the service failed after auditing")

    with pytest.raises(RuntimeError):
        change_that_fails_after_auditing()
    # then neither the change nor its audit row exists
    assert not Hospital.objects.filter(code="RB-1").exists()
    assert AuditEvent.objects.count() == 0


def test_one_seal_request_per_transaction_however_many_rows(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for i in range(5):
            audit_record(actor=None, action="slot.create", obj=("scheduling.slot", i))
    assert AuditEvent.objects.count() == 5
    assert [callback.__name__ for callback in callbacks] == ["request_seal"]


def test_benchmark_switch_turns_the_write_off(settings):
    settings.AUDIT_ENABLED = False
    with transaction.atomic():
        row = audit_record(actor=None, action="slot.create", obj=("scheduling.slot", 1))
    assert row.pk is None
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_written_row_reads_back_exactly(client_for):
    # given a change recorded with nested, unicode JSON and an IPv6 client address
    from core.audit import reset_client_ip, set_client_ip
    from core.request_context import reset_request_id, set_request_id

    doctor = DoctorFactory()
    changes = {
        "notes": {"before": "", "after": 'Tëst ✓ \\n "quoted"'},
        "n": {"before": 1, "after": 2.5},
    }
    metadata = {"list": [1, None, True, {"deep": "é"}]}
    ip_token, id_token = set_client_ip("2001:db8::1"), set_request_id("req-audit-row-0001")
    try:
        with transaction.atomic():
            row = audit_record(
                actor=doctor, action="slot.create", obj=("scheduling.slot", 7),
                changes=changes, metadata=metadata,
            )  # fmt: skip
    finally:
        reset_client_ip(ip_token)
        reset_request_id(id_token)
    # then the stored row holds exactly what was written
    stored = AuditEvent.objects.get(pk=row.pk)
    assert (stored.actor_id, stored.actor_role, stored.action) == (
        doctor.pk,
        "doctor",
        "slot.create",
    )
    assert (stored.object_type, stored.object_id) == ("scheduling.slot", "7")
    assert stored.changes == changes
    assert stored.metadata == metadata
    assert (stored.request_id, stored.ip_address) == ("req-audit-row-0001", "2001:db8::1")
    assert stored.occurred_at == row.occurred_at
