"""Hospital edits go through ``hospital_update``: validated, the code unique, audited
(the admin's change form included)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Hospital, User
from accounts.services import hospital_create, hospital_delete, hospital_update
from audit.models import AuditEvent
from core.errors import Conflict, InvalidRequest, NotAllowed
from tests.factories import PASSWORD, DoctorFactory, HospitalFactory, StaffFactory

pytestmark = pytest.mark.django_db


def hospital_audit_rows(hospital: Hospital) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action="hospital.update", object_id=str(hospital.pk)).order_by(
            "id"
        )
    )


def admin_form(hospital: Hospital, **overrides: str) -> dict[str, str]:
    data = {
        "code": hospital.code,
        "name": hospital.name,
        "address": hospital.address,
        "city": hospital.city,
        "region": hospital.region,
        "postal_code": hospital.postal_code,
        "country": str(hospital.country),
        "phone": hospital.phone,
    }
    data.update(overrides)
    return data


class TestTheAdminChangeForm:
    def test_an_edit_is_saved_through_the_service_and_audited(self):
        # given a superuser in the admin and a hospital
        superuser = User.objects.create_superuser(email="root@example.test", password=PASSWORD)
        admin = Client()
        admin.force_login(superuser)
        hospital = HospitalFactory(name="Old Name", city="Lyon", country="FR")
        updated_before = hospital.updated_at

        # when the change form renames it and moves it to another country
        url = reverse("admin:accounts_hospital_change", args=[hospital.pk])
        response = admin.post(url, admin_form(hospital, name="New Name", country="GB"))

        # then the row changed, its updated_at moved (the directory sync sees it), and one
        # audit row by the superuser names exactly the changed fields, before and after
        assert response.status_code == 302
        hospital.refresh_from_db()
        assert (hospital.name, str(hospital.country)) == ("New Name", "GB")
        assert hospital.updated_at > updated_before
        [row] = hospital_audit_rows(hospital)
        assert row.actor_id == superuser.pk
        assert row.object_type == "accounts.hospital"
        assert row.changes == {
            "country": {"before": "FR", "after": "GB"},
            "name": {"before": "Old Name", "after": "New Name"},
        }

    def test_saving_an_unchanged_form_writes_no_audit_row(self):
        superuser = User.objects.create_superuser(email="root@example.test", password=PASSWORD)
        admin = Client()
        admin.force_login(superuser)
        hospital = HospitalFactory()

        url = reverse("admin:accounts_hospital_change", args=[hospital.pk])
        response = admin.post(url, admin_form(hospital))

        assert response.status_code == 302
        assert hospital_audit_rows(hospital) == []


class TestHospitalUpdate:
    def test_staff_change_the_fields_given_and_no_other(self):
        # given a hospital
        hospital = HospitalFactory(city="Leeds", phone="+44 20 7946 0000")

        # when staff change its city
        saved = hospital_update(actor=StaffFactory(), hospital=hospital, data={"city": "York"})

        # then the city changed, the phone did not, and the audit row says so
        hospital.refresh_from_db()
        assert (saved.city, hospital.city, hospital.phone) == ("York", "York", "+44 20 7946 0000")
        [row] = hospital_audit_rows(hospital)
        assert row.changes == {"city": {"before": "Leeds", "after": "York"}}

    def test_the_stored_row_is_the_before_not_the_instance_given(self):
        # given an instance whose attributes a form has already changed
        hospital = HospitalFactory(name="Stored Name")
        hospital.name = "Typed Name"

        hospital_update(actor=StaffFactory(), hospital=hospital, data={"name": "Typed Name"})

        [row] = hospital_audit_rows(hospital)
        assert row.changes == {"name": {"before": "Stored Name", "after": "Typed Name"}}

    def test_a_clinician_may_not_edit_a_hospital(self):
        hospital = HospitalFactory(name="Kept")

        with pytest.raises(NotAllowed):
            hospital_update(actor=DoctorFactory(), hospital=hospital, data={"name": "Taken"})

        hospital.refresh_from_db()
        assert hospital.name == "Kept"
        assert hospital_audit_rows(hospital) == []

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"postal_code": "!"}, "postal_code"),
            ({"phone": "call me"}, "phone"),
            ({"code": "no spaces allowed"}, "code"),
            ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
        ],
    )
    def test_invalid_or_unknown_fields_are_refused_and_nothing_changes(self, data, field):
        hospital = HospitalFactory()
        before = Hospital.objects.values().get(pk=hospital.pk)

        with pytest.raises(InvalidRequest) as refused:
            hospital_update(actor=StaffFactory(), hospital=hospital, data=data)

        assert field in refused.value.details["fields"]
        assert Hospital.objects.values().get(pk=hospital.pk) == before
        assert hospital_audit_rows(hospital) == []

    def test_a_code_another_hospital_holds_is_a_conflict(self):
        HospitalFactory(code="LYON-1")
        hospital = HospitalFactory(code="LYON-2")

        with pytest.raises(Conflict) as refused:
            hospital_update(actor=StaffFactory(), hospital=hospital, data={"code": "LYON-1"})

        assert refused.value.code == "hospital_code_taken"
        hospital.refresh_from_db()
        assert hospital.code == "LYON-2"


def audit_rows(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


class TestTheAdminAddsAndDeletesThroughServices:
    @pytest.fixture
    def admin(self) -> Client:
        superuser = User.objects.create_superuser(email="root@example.test", password=PASSWORD)
        client = Client()
        client.force_login(superuser)
        return client

    def test_the_add_form_creates_one_audited_hospital(self, admin):
        data = admin_form(HospitalFactory.build(code="NEW-1", name="New Clinic", country="FR"))

        response = admin.post(reverse("admin:accounts_hospital_add"), data)

        assert response.status_code == 302
        hospital = Hospital.objects.get(code="NEW-1")
        [row] = audit_rows("hospital.create")
        assert row.object_id == str(hospital.pk)
        assert row.changes["name"] == {"before": None, "after": "New Clinic"}

    def test_the_delete_page_deletes_through_the_service(self, admin):
        hospital = HospitalFactory(code="GONE-1")
        url = reverse("admin:accounts_hospital_delete", args=[hospital.pk])

        response = admin.post(url, {"post": "yes"})

        assert response.status_code == 302
        assert not Hospital.objects.filter(pk=hospital.pk).exists()
        [row] = audit_rows("hospital.delete")
        assert row.metadata == {"code": "GONE-1", "name": hospital.name}

    def test_the_bulk_delete_action_audits_each_hospital(self, admin):
        hospitals = HospitalFactory.create_batch(3)
        data = {
            "action": "delete_selected",
            "_selected_action": [h.pk for h in hospitals],
            "post": "yes",
        }

        response = admin.post(reverse("admin:accounts_hospital_changelist"), data)

        assert response.status_code == 302
        assert Hospital.objects.filter(pk__in=[h.pk for h in hospitals]).count() == 0
        deleted = {row.object_id for row in audit_rows("hospital.delete")}
        assert deleted == {str(h.pk) for h in hospitals}


class TestHospitalCreateAndDelete:
    def test_a_clinician_may_neither_create_nor_delete(self):
        hospital = HospitalFactory()

        with pytest.raises(NotAllowed):
            hospital_create(actor=DoctorFactory(), data={"code": "X-1", "name": "X"})
        with pytest.raises(NotAllowed):
            hospital_delete(actor=DoctorFactory(), hospital_id=hospital.pk)

        assert Hospital.objects.filter(pk=hospital.pk).exists()
        assert not Hospital.objects.filter(code="X-1").exists()
        assert audit_rows("hospital.create") == audit_rows("hospital.delete") == []

    def test_a_taken_code_or_an_unknown_field_is_refused(self):
        HospitalFactory(code="TAKEN-1")

        with pytest.raises(Conflict):
            hospital_create(actor=StaffFactory(), data={"code": "TAKEN-1", "name": "Dup"})
        with pytest.raises(InvalidRequest):
            hospital_create(actor=StaffFactory(), data={"code": "OK-1", "id": 5})

        assert Hospital.objects.filter(code__in=["TAKEN-1", "OK-1"]).count() == 1
        assert audit_rows("hospital.create") == []

    def test_deleting_a_hospital_already_gone_changes_nothing(self):
        hospital = HospitalFactory()
        hospital_id = hospital.pk
        hospital.delete()

        hospital_delete(actor=StaffFactory(), hospital_id=hospital_id)

        assert audit_rows("hospital.delete") == []
