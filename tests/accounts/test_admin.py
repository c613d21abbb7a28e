from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.models import ClinicianProfile, PatientProfile, User
from tests.factories import PASSWORD, DoctorFactory, HospitalFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser() -> Client:
    superuser = User.objects.create_superuser(email="root@example.test", password=PASSWORD)
    client = Client()
    client.force_login(superuser)
    return client


def add_user(client: Client, **fields):
    data = {
        "email": "added@example.test",
        "role": "doctor",
        "first_name": "Added",
        "last_name": "Doctor",
        "time_zone": "Europe/Vienna",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(fields)
    return client.post(reverse("admin:accounts_user_add"), data)


class TestUserAdminAdd:
    def test_add_page_renders(self, admin_browser):
        response = admin_browser.get(reverse("admin:accounts_user_add"))
        assert response.status_code == 200
        assert b"password1" in response.content

    def test_adding_a_doctor_goes_through_user_create(self, admin_browser):
        # when
        response = add_user(admin_browser, email="Added@Example.TEST")
        # then
        created = User.objects.get(email="added@example.test")
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:accounts_user_change", args=[created.id])
        assert created.role == "doctor"
        assert created.time_zone == "Europe/Vienna"
        assert created.check_password(PASSWORD)
        # the service made the clinician profile, editable inline from now on
        assert ClinicianProfile.objects.filter(user=created).exists()
        change_page = admin_browser.get(response["Location"])
        assert change_page.status_code == 200
        assert b"clinician_profile-0-specialty" in change_page.content

    def test_adding_staff_gives_admin_access(self, admin_browser):
        add_user(admin_browser, email="office@example.test", role="staff")
        created = User.objects.get(email="office@example.test")
        assert created.is_staff is True
        assert not PatientProfile.objects.filter(user=created).exists()

    def test_adding_a_patient_makes_a_patient_profile(self, admin_browser):
        add_user(admin_browser, email="pat@example.test", role="patient")
        assert PatientProfile.objects.filter(user__email="pat@example.test").exists()

    @pytest.mark.parametrize(
        ("fields", "error_field"),
        [
            ({"password1": "12345", "password2": "12345"}, "password2"),
            ({"password2": "something-else-entirely"}, "password2"),
            ({"email": "TAKEN@example.test"}, "email"),
            ({"time_zone": "Not/AZone"}, "time_zone"),
            ({"role": "admin"}, "role"),
        ],
    )
    def test_invalid_add_shows_errors_and_creates_nothing(self, admin_browser, fields, error_field):
        PatientFactory(email="taken@example.test")
        before = User.objects.count()
        response = add_user(admin_browser, **fields)
        assert response.status_code == 200
        assert error_field in response.context["adminform"].form.errors
        assert User.objects.count() == before


class TestUserAdminChange:
    def test_change_role_time_zone_and_active(self, admin_browser):
        patient = PatientFactory(email="edit@example.test")
        url = reverse("admin:accounts_user_change", args=[patient.id])
        page = admin_browser.get(url)
        assert page.status_code == 200
        data = {
            "email": "edit@example.test",
            "first_name": "Edited",
            "last_name": "Person",
            "time_zone": "Asia/Tokyo",
            "role": "patient",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "patient_profile-TOTAL_FORMS": "1",
            "patient_profile-INITIAL_FORMS": "1",
            "patient_profile-MIN_NUM_FORMS": "0",
            "patient_profile-MAX_NUM_FORMS": "1",
            "patient_profile-0-id": str(patient.patient_profile.id),
            "patient_profile-0-user": str(patient.id),
            "patient_profile-0-phone": "",
            "patient_profile-0-date_of_birth": "",
        }
        response = admin_browser.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        patient.refresh_from_db()
        assert (patient.first_name, patient.time_zone, patient.is_active) == (
            "Edited",
            "Asia/Tokyo",
            False,
        )

    def test_changelist_search_and_filter(self, admin_browser):
        DoctorFactory(email="findme@example.test", last_name="Needle")
        PatientFactory(last_name="Hay")
        url = reverse("admin:accounts_user_changelist")
        found = admin_browser.get(url, {"q": "needle"})
        assert found.status_code == 200
        assert list(found.context["cl"].queryset.values_list("email", flat=True)) == [
            "findme@example.test"
        ]
        doctors = admin_browser.get(url, {"role__exact": "doctor"})
        assert [u.email for u in doctors.context["cl"].queryset] == ["findme@example.test"]


class TestHospitalAdmin:
    def test_changelist_search_and_filter(self, admin_browser):
        HospitalFactory(code="LYON-1", name="Lyon General", city="Lyon", country="FR")
        HospitalFactory(code="LEEDS-1", name="Leeds Royal", city="Leeds", country="GB")
        url = reverse("admin:accounts_hospital_changelist")
        by_city = admin_browser.get(url, {"q": "lyon"})
        assert [h.code for h in by_city.context["cl"].queryset] == ["LYON-1"]
        by_country = admin_browser.get(url, {"country": "GB"})
        assert by_country.status_code == 200
        assert [h.code for h in by_country.context["cl"].queryset] == ["LEEDS-1"]

    def test_clinician_profile_hospital_autocomplete_works(self, admin_browser):
        HospitalFactory(name="Auto Complete Clinic")
        response = admin_browser.get(
            reverse("admin:autocomplete"),
            {
                "app_label": "accounts",
                "model_name": "clinicianprofile",
                "field_name": "hospital",
                "term": "auto",
            },
        )
        assert response.status_code == 200
        texts = [row["text"] for row in response.json()["results"]]
        assert len(texts) == 1
        assert texts[0].startswith("Auto Complete Clinic (")


class TestUserAdminRoleChange:
    def change_data(self, user, **overrides):
        data = {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "time_zone": user.time_zone,
            "role": user.role,
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "patient_profile-TOTAL_FORMS": "1",
            "patient_profile-INITIAL_FORMS": "1",
            "patient_profile-MIN_NUM_FORMS": "0",
            "patient_profile-MAX_NUM_FORMS": "1",
            "patient_profile-0-id": str(user.patient_profile.id),
            "patient_profile-0-user": str(user.id),
        }
        data.update(overrides)
        return data

    def test_promoting_a_patient_to_doctor_goes_through_user_update(self, admin_browser):
        patient = PatientFactory()
        url = reverse("admin:accounts_user_change", args=[patient.id])
        response = admin_browser.post(url, self.change_data(patient, role="doctor"))
        assert response.status_code == 302
        patient.refresh_from_db()
        assert patient.role == "doctor"
        assert ClinicianProfile.objects.filter(user=patient).exists()

    def test_staff_without_superuser_cannot_grant_superuser(self):
        office = StaffFactory()
        office.user_permissions.add(
            *Permission.objects.filter(codename__in=["view_user", "change_user"])
        )
        client = Client()
        client.force_login(office)
        patient = PatientFactory()
        url = reverse("admin:accounts_user_change", args=[patient.id])
        response = client.post(url, self.change_data(patient, is_superuser="on", is_staff="on"))
        assert response.status_code == 302
        patient.refresh_from_db()
        assert patient.is_superuser is False
