"""Hospital edits go through ``hospital_update``: validated, the code unique, audited
(the admin's change form included)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Hospital, User
from accounts.services import hospital_update
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
