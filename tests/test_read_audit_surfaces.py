"""Every surface that shows clinical content writes a read row through ``audit_read``.

For each surface: a request by someone other than the patient writes one row per record
it shows, naming the reader (actor), the record (object type and id), the surface and
the patient. The API, the clinician dashboard, the admin's change lists and change
forms, the prescription PDF and both report downloads (API and dashboard).
"""

from __future__ import annotations

from datetime import date

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client

from audit.models import AuditEvent
from core.admin_tools import ReadAuditedAdmin
from core.read_audit import ReadSurface
from reports.services import Kind, ReportRequest, report_build, report_request
from tests.clinical_world import World, clinical_world
from tests.factories import StaffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def world() -> World:
    return clinical_world()


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def reads(surface: ReadSurface, action: str | None = None) -> list[AuditEvent]:
    rows = AuditEvent.objects.filter(metadata__surface=surface.value).order_by("id")
    return list(rows.filter(action=action) if action else rows)


def seen(rows: list[AuditEvent]) -> set[tuple[int | None, str, str, str]]:
    return {(row.actor_id, row.action, row.object_type, row.object_id) for row in rows}


def finished_report(user) -> str:
    job = report_request(
        user=user,
        request=ReportRequest(
            kind=Kind.CASELOAD,
            date_from=date(2020, 1, 1),
            date_to=date(2020, 12, 31),
            format="csv",
        ),
    )
    report_build(job_id=job.id)
    return str(job.id)


# --- API ---------------------------------------------------------------------------------


def test_api_consultation_read_names_reader_record_surface_and_patient(client_for, world):
    # when the doctor reads patient A's consultation through the API
    consultation = world.done_consultation
    response = client_for(world.doctor).get(f"/api/v1/consultations/{consultation.pk}/")

    # then one row names the doctor, the consultation, the API and patient A
    assert response.status_code == 200
    (row,) = reads(ReadSurface.API)
    assert seen([row]) == {
        (world.doctor.pk, "consultation.read", "consultations.consultation", str(consultation.pk))
    }
    assert row.metadata == {"surface": "api", "patient_id": world.patient_a.pk}


def test_api_lab_result_list_writes_a_row_per_result_shown(client_for, world):
    response = client_for(world.doctor).get("/api/v1/lab-results/")

    shown = {str(item["id"]) for item in response.json()["results"]}
    assert shown == {str(world.lab_result.pk)}
    assert {row.object_id for row in reads(ReadSurface.API, "lab_result.read")} == shown


def test_prescription_pdf_download_is_a_read(client_for, world):
    response = client_for(world.doctor).get(f"/api/v1/prescriptions/{world.prescription.pk}/pdf/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    (row,) = reads(ReadSurface.PRESCRIPTION_PDF)
    assert seen([row]) == {
        (
            world.doctor.pk,
            "prescription.read",
            "consultations.prescription",
            str(world.prescription.pk),
        )
    }
    assert row.metadata["patient_id"] == world.patient_a.pk


def test_patient_reading_their_own_pdf_is_not_a_foreign_read(client_for, world):
    response = client_for(world.patient_a).get(
        f"/api/v1/prescriptions/{world.prescription.pk}/pdf/"
    )

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="prescription.read").exists()


def test_api_report_download_is_a_read_of_the_report(client_for, world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    job_id = finished_report(world.doctor)

    response = client_for(world.doctor).get(f"/api/v1/jobs/{job_id}/download/")

    assert response.status_code == 200
    b"".join(response.streaming_content)
    (row,) = reads(ReadSurface.JOB_DOWNLOAD)
    # a report covers many patients: the row names the file, not one patient
    assert seen([row]) == {(world.doctor.pk, "job_file.read", "core.job", job_id)}
    assert row.metadata == {"surface": "api.job_download"}


# --- dashboard ---------------------------------------------------------------------------


def test_dashboard_consultation_page_audits_the_consultation_its_visit_and_prescriptions(world):
    consultation = world.done_consultation

    response = web(world.doctor).get(f"/dashboard/consultations/{consultation.pk}/")

    assert response.status_code == 200
    assert "Final notes" in response.content.decode()
    rows = reads(ReadSurface.DASHBOARD_CONSULTATION)
    assert seen(rows) == {
        (world.doctor.pk, "consultation.read", "consultations.consultation", str(consultation.pk)),
        (
            world.doctor.pk,
            "appointment.read",
            "scheduling.appointment",
            str(consultation.appointment_id),
        ),
        (
            world.doctor.pk,
            "prescription.read",
            "consultations.prescription",
            str(world.prescription.pk),
        ),
    }
    assert {row.metadata["patient_id"] for row in rows} == {world.patient_a.pk}


def test_dashboard_client_page_audits_every_record_it_shows(world):
    response = web(world.doctor).get(f"/dashboard/clients/{world.patient_a.pk}/")

    assert response.status_code == 200
    rows = reads(ReadSurface.DASHBOARD_CLIENT)
    by_action: dict[str, set[str]] = {}
    for row in rows:
        by_action.setdefault(row.action, set()).add(row.object_id)
    assert by_action["client_record.read"] == {str(world.patient_a.pk)}
    assert by_action["prescription.read"] == {str(world.prescription.pk)}
    assert by_action["lab_result.read"] == {str(world.lab_result.pk)}
    assert str(world.done_consultation.pk) in by_action["consultation.read"]
    assert str(world.done_consultation.appointment_id) in by_action["appointment.read"]
    assert {row.actor_id for row in rows} == {world.doctor.pk}


def test_dashboard_report_download_is_a_read_of_the_report(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    job_id = finished_report(world.doctor)

    response = web(world.doctor).get(f"/dashboard/reports/{job_id}/download/")

    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert seen(reads(ReadSurface.DASHBOARD_REPORT_DOWNLOAD)) == {
        (world.doctor.pk, "job_file.read", "core.job", job_id)
    }


def test_a_refused_read_writes_nothing(world):
    # another doctor's consultation is a 404 page, and nothing was read
    response = web(world.other_doctor).get(
        f"/dashboard/consultations/{world.done_consultation.pk}/"
    )

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action__endswith=".read").exists()


# --- admin -------------------------------------------------------------------------------

ADMIN_MODELS = [
    ("consultations", "consultation", "consultation.read"),
    ("consultations", "prescription", "prescription.read"),
    ("labs", "labresult", "lab_result.read"),
    ("scheduling", "appointment", "appointment.read"),
]


@pytest.mark.parametrize(("app", "model", "action"), ADMIN_MODELS)
def test_admin_change_list_writes_a_row_per_record_shown(world, app, model, action):
    staff = StaffFactory(is_superuser=True)

    response = web(staff).get(f"/admin/{app}/{model}/")

    assert response.status_code == 200
    shown = {str(obj.pk) for obj in response.context["cl"].result_list}
    assert shown
    rows = reads(ReadSurface.ADMIN_CHANGE_LIST, action)
    assert {row.object_id for row in rows} == shown
    assert len(rows) == len(shown)
    assert {row.actor_id for row in rows} == {staff.pk}
    assert all(row.metadata["patient_id"] for row in rows)


@pytest.mark.parametrize(("app", "model", "action"), ADMIN_MODELS)
def test_admin_change_form_writes_one_row(world, app, model, action):
    staff = StaffFactory(is_superuser=True)
    record = {
        "consultation": world.done_consultation,
        "prescription": world.prescription,
        "labresult": world.lab_result,
        "appointment": world.done_consultation.appointment,
    }[model]

    response = web(staff).get(f"/admin/{app}/{model}/{record.pk}/change/")

    assert response.status_code == 200
    (row,) = reads(ReadSurface.ADMIN_CHANGE_FORM)
    assert (row.actor_id, row.action, row.object_id) == (staff.pk, action, str(record.pk))
    assert row.metadata == {"surface": "admin.change_form", "patient_id": world.patient_a.pk}


def test_a_staff_member_viewing_a_lab_result_in_the_admin_writes_a_read_row(world):
    # given a staff member (not a superuser) allowed only to view lab results
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_labresult"))

    # when they open patient A's result in the admin
    response = web(staff).get(f"/admin/labs/labresult/{world.lab_result.pk}/change/")

    # then the page shows it and the audit trail says who saw which result, where
    assert response.status_code == 200
    row = AuditEvent.objects.get(action="lab_result.read")
    assert (row.actor_id, row.actor_role) == (staff.pk, "staff")
    assert (row.object_type, row.object_id) == ("labs.labresult", str(world.lab_result.pk))
    assert row.metadata == {"surface": "admin.change_form", "patient_id": world.patient_a.pk}


def test_a_csv_export_of_clinical_rows_is_a_read_of_each_row(world):
    # given a staff member who selects every prescription in the admin
    staff = StaffFactory(is_superuser=True)
    selected = [world.prescription.pk, world.prescription_b.pk]

    # when they export them as CSV
    response = web(staff).post(
        "/admin/consultations/prescription/",
        {"action": "export_as_csv", "_selected_action": selected},
    )

    # then the file comes, and each exported row is a read naming its patient
    assert response.status_code == 200
    b"".join(response.streaming_content)
    rows = reads(ReadSurface.ADMIN_EXPORT, "prescription.read")
    assert {(row.object_id, row.metadata["patient_id"]) for row in rows} == {
        (str(world.prescription.pk), world.patient_a.pk),
        (str(world.prescription_b.pk), world.patient_b.pk),
    }
    assert {row.actor_id for row in rows} == {staff.pk}


@pytest.mark.parametrize(("app", "model", "action"), ADMIN_MODELS)
def test_every_audited_admin_audits_an_export_of_its_rows(world, app, model, action):
    staff = StaffFactory(is_superuser=True)
    model_class = apps.get_model(app, model)
    selected = list(model_class.objects.values_list("pk", flat=True))

    response = web(staff).post(
        f"/admin/{app}/{model}/", {"action": "export_as_csv", "_selected_action": selected}
    )

    assert response.status_code == 200
    b"".join(response.streaming_content)
    rows = reads(ReadSurface.ADMIN_EXPORT, action)
    assert sorted(int(row.object_id) for row in rows) == sorted(selected)
    assert all(row.metadata["patient_id"] for row in rows)


def test_every_admin_of_a_clinical_model_audits_its_reads():
    audited = {
        (model._meta.app_label, model._meta.model_name)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, ReadAuditedAdmin)
    }
    assert audited == {(app, model) for app, model, _ in ADMIN_MODELS}
