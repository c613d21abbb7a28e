"""The back office: clinic overview on the admin index, CSV export, the staff group."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import user_create, user_update
from accounts.staff_group import STAFF_GROUP, staff_group_sync
from audit.models import AuditEvent
from core.jobs import job_create
from dashboard.admin_overview import audit_chain_status
from notifications.models import Notification
from tests.dashboard.conftest import book
from tests.factories import PASSWORD, PatientFactory, SlotFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("boss@example.test", PASSWORD)


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def new_staff(actor: User, email: str = "desk@example.test") -> User:
    return user_create(actor=actor, email=email, password=PASSWORD, role=Role.STAFF)


class TestClinicOverview:
    def test_the_index_counts_today_slots_jobs_and_failed_notifications(
        self, admin_client, superuser, psychologist, patient
    ):
        # given two appointments today (one cancelled), an open slot, a queued job and a
        # failed notification
        now = timezone.now()
        start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        book(psychologist, patient, start=start_of_day + timedelta(hours=1))
        book(psychologist, PatientFactory(), start=start_of_day + timedelta(hours=2),
             status="cancelled")  # fmt: skip
        SlotFactory(clinician=psychologist)
        job_create(kind="report", requested_by=psychologist)
        Notification.objects.create(
            recipient=patient, event_id=uuid.uuid4(), kind="appointment_scheduled",
            status="failed", last_error="SMTP down",
        )  # fmt: skip
        audit_chain_status(refresh=True)  # the worker's periodic chain check has run

        # when staff open the admin index
        page = admin_client.get("/admin/").content.decode()

        # then the overview shows each number with a link to the list behind it
        assert "Clinic overview" in page
        assert "(cancelled 1, scheduled 1)" in page
        assert "/admin/notifications/notification/?status__exact=failed" in page
        overview = page.split('class="clinic-overview"')[1].split("</section>")[0]
        numbers = [
            chunk.split("</dd>")[0].split("<")[0].strip() for chunk in overview.split("<dd>")[1:]
        ]
        assert numbers[:4] == ["2", "1", "1", "1"]
        assert "Intact" in overview

    def test_the_chain_check_is_cached_and_counts_unsealed_events(self, superuser):
        first = audit_chain_status(refresh=True)
        AuditEvent.objects.create(action="test.event")  # written, not sealed yet
        cached = audit_chain_status()
        fresh = audit_chain_status(refresh=True)

        assert first.ok
        assert cached == first
        assert fresh.unsealed == first.unsealed + 1

    def test_the_index_works_for_a_staff_member_of_the_group(self, superuser):
        staff = new_staff(superuser)
        client = Client()
        client.force_login(staff)

        response = client.get("/admin/")

        assert response.status_code == 200
        assert "Clinic overview" in response.content.decode()


class TestCsvExport:
    def test_selected_rows_export_with_an_audit_row(self, admin_client, superuser, patient):
        patient.first_name = "=HYPERLINK(evil)"
        patient.save()

        response = admin_client.post(
            "/admin/accounts/user/",
            {"action": "export_as_csv", "_selected_action": [patient.pk, superuser.pk]},
        )

        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        body = b"".join(response.streaming_content).decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        assert [row["email"] for row in rows] == [superuser.email, patient.email]
        assert "password" not in rows[0]  # never the hashes
        assert rows[1]["first_name"] == "'=HYPERLINK(evil)"  # no formula in a spreadsheet
        exported = AuditEvent.objects.get(action="admin.export_csv")
        assert exported.actor_id == superuser.pk
        assert exported.metadata["rows"] == 2

    def test_appointments_export(self, admin_client, psychologist, patient):
        appointment = book(psychologist, patient, start=timezone.now() + timedelta(days=1))

        response = admin_client.post(
            "/admin/scheduling/appointment/",
            {"action": "export_as_csv", "_selected_action": [appointment.pk]},
        )

        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert len(rows) == 1
        assert rows[0]["id"] == str(appointment.pk)
        assert rows[0]["status"] == "scheduled"

    def test_someone_without_the_view_permission_cannot_export(self, patient):
        outsider = StaffFactory()  # admin access, but no group and no permission
        client = Client()
        client.force_login(outsider)

        response = client.post(
            "/admin/accounts/user/",
            {"action": "export_as_csv", "_selected_action": [patient.pk]},
        )

        assert response.status_code == 403
        assert not AuditEvent.objects.filter(action="admin.export_csv").exists()


class TestStaffGroup:
    def test_the_group_exists_after_migrate_with_the_documented_permissions(self):
        group = Group.objects.get(name=STAFF_GROUP)

        codes = set(group.permissions.values_list("content_type__app_label", "codename"))

        assert ("scheduling", "change_appointment") in codes
        assert ("accounts", "add_user") in codes
        assert ("consultations", "view_prescription") in codes
        assert ("audit", "view_auditevent") in codes
        assert ("audit", "change_auditevent") not in codes
        assert ("audit", "delete_auditevent") not in codes
        assert ("axes", "delete_accessattempt") in codes
        assert ("auth", "add_permission") not in codes
        assert not any(app == "sessions" for app, _ in codes)

    def test_staff_created_by_staff_join_the_group_and_leave_it_with_the_role(self, superuser):
        staff = new_staff(superuser)
        assert staff.groups.filter(name=STAFF_GROUP).exists()
        assert staff.has_perm("scheduling.change_appointment")

        changed = user_update(actor=superuser, user=staff, data={"role": Role.DOCTOR})

        assert not changed.groups.filter(name=STAFF_GROUP).exists()
        assert not User.objects.get(pk=staff.pk).has_perm("scheduling.change_appointment")

    def test_a_group_staff_member_reads_lists_but_cannot_edit_the_audit_trail(self, superuser):
        staff = new_staff(superuser)
        client = Client()
        client.force_login(staff)

        assert client.get("/admin/scheduling/appointment/").status_code == 200
        assert client.get("/admin/audit/auditevent/").status_code == 200
        assert client.get("/admin/audit/auditevent/add/").status_code == 403

    def test_sync_is_idempotent_and_adds_existing_staff(self):
        staff = StaffFactory()

        staff_group_sync()
        staff_group_sync()

        assert Group.objects.filter(name=STAFF_GROUP).count() == 1
        assert staff.groups.filter(name=STAFF_GROUP).exists()
