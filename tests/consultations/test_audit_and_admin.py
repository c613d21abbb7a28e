"""Every clinical change and foreign read leaves an audit row; the hash chain verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_chain_verify, audit_seal_pending
from tests.factories import StaffFactory, in_progress_consultation

pytestmark = pytest.mark.django_db


def test_a_day_of_clinical_work_is_fully_audited_and_the_chain_verifies(client_for, world):
    doctor = client_for(world.doctor)
    consultation = in_progress_consultation(world.doctor, world.patient_a)
    # when the doctor reads, writes notes, completes, prescribes, adds an addendum,
    # records a lab result, and the patient reads their own record
    doctor.get(f"/api/v1/consultations/{consultation.pk}/")
    doctor.patch(f"/api/v1/consultations/{consultation.pk}/", {"notes": "n"}, format="json")
    doctor.patch(
        f"/api/v1/consultations/{consultation.pk}/status/", {"status": "completed"}, format="json"
    )
    prescription = doctor.post(
        "/api/v1/prescriptions/",
        {
            "consultation": consultation.pk,
            "medication": "Paracetamol",
            "dose": "1 g",
            "route": "oral",
            "frequency": "every 6 hours",
            "duration": "3 days",
            "quantity": 12,
        },
        format="json",
    ).json()
    doctor.post(
        f"/api/v1/prescriptions/{prescription['id']}/cancel/", {"reason": "r"}, format="json"
    )
    doctor.post(
        f"/api/v1/consultations/{consultation.pk}/addenda/", {"text": "late note"}, format="json"
    )
    doctor.post(
        "/api/v1/lab-results/",
        {
            "patient": world.patient_a.pk,
            "test_code": "718-7",
            "test_name": "Hemoglobin",
            "value": 13.5,
            "collected_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        },
        format="json",
    )
    client_for(world.patient_a).get(f"/api/v1/consultations/{consultation.pk}/")
    # then each change and the doctor's read has its row, by the doctor
    actions = list(
        AuditEvent.objects.filter(actor_id=world.doctor.pk).values_list("action", flat=True)
    )
    for expected in [
        "consultation.read",
        "consultation.update",
        "consultation.status_change",
        "prescription.create",
        "prescription.cancel",
        "consultation.addendum_add",
        "lab_result.create",
    ]:
        assert expected in actions, expected
    # the patient's read of their own record is not a foreign read
    assert not AuditEvent.objects.filter(actor_id=world.patient_a.pk).exists()
    # and the chain holds once sealed
    audit_seal_pending()
    report = audit_chain_verify()
    assert report.ok, report.reason
    assert report.checked == AuditEvent.objects.count()


def test_admin_is_read_only_and_audits_every_opened_record(client, world):
    staff = StaffFactory(is_superuser=True)
    client.force_login(staff)
    consultation = world.done_consultation
    # the change list opens; adding is not offered
    assert client.get("/admin/consultations/consultation/").status_code == 200
    assert client.get("/admin/consultations/consultation/add/").status_code == 403
    # opening one record is a staff read of another person's record: audited
    response = client.get(f"/admin/consultations/consultation/{consultation.pk}/change/")
    assert response.status_code == 200
    row = AuditEvent.objects.get(action="consultation.read", metadata__surface="admin.change_form")
    assert (row.actor_id, row.object_id) == (staff.pk, str(consultation.pk))
    assert row.metadata == {
        "surface": "admin.change_form",
        "patient_id": consultation.appointment.patient_id,
    }
    # a POST cannot change it
    client.post(
        f"/admin/consultations/consultation/{consultation.pk}/change/", {"notes": "changed"}
    )
    consultation.refresh_from_db()
    assert consultation.notes == "Final notes"
    for url, action in [
        (f"/admin/consultations/prescription/{world.prescription.pk}/change/", "prescription.read"),
        (f"/admin/labs/labresult/{world.lab_result.pk}/change/", "lab_result.read"),
    ]:
        assert client.get(url).status_code == 200
        opened = AuditEvent.objects.filter(
            action=action, actor_id=staff.pk, metadata__surface="admin.change_form"
        )
        assert opened.count() == 1
