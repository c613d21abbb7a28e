from __future__ import annotations

import pytest

from accounts.models import ClinicianProfile, PatientProfile, Role, User
from accounts.services import patient_register, user_create, user_update, user_update_self
from core.errors import Conflict, InvalidRequest, NotAllowed
from tests.factories import PASSWORD, DoctorFactory, HospitalFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db


class TestPatientRegister:
    def test_creates_a_patient_with_profile_and_lower_case_email(self):
        # when
        user = patient_register(
            email="  Ada.Lovelace@Example.TEST ",
            password=PASSWORD,
            first_name="Ada",
            time_zone="Europe/London",
        )
        # then
        user.refresh_from_db()
        assert user.email == "ada.lovelace@example.test"
        assert user.role == Role.PATIENT
        assert user.is_staff is False
        assert user.time_zone == "Europe/London"
        assert user.check_password(PASSWORD)
        assert user.password != PASSWORD
        assert PatientProfile.objects.filter(user=user).exists()

    def test_email_taken_in_another_case_is_a_conflict(self):
        # given
        PatientFactory(email="taken@example.test")
        # when
        with pytest.raises(Conflict) as caught:
            patient_register(email="TAKEN@example.test", password=PASSWORD)
        # then
        assert caught.value.code == "email_taken"
        assert User.objects.count() == 1

    def test_weak_password_runs_django_validators(self):
        with pytest.raises(InvalidRequest) as caught:
            patient_register(email="weak@example.test", password="12345")
        assert caught.value.code == "validation_error"
        messages = caught.value.details["fields"]["password"]
        assert any("too short" in m for m in messages)
        assert any("entirely numeric" in m for m in messages)
        assert not User.objects.exists()

    def test_password_like_the_email_is_refused(self):
        with pytest.raises(InvalidRequest) as caught:
            patient_register(email="margaretha@example.test", password="margaretha")
        assert "password" in caught.value.details["fields"]

    def test_unknown_time_zone_and_bad_email_are_field_errors(self):
        with pytest.raises(InvalidRequest) as caught:
            patient_register(email="not-an-email", password=PASSWORD, time_zone="Mars/Base")
        fields = caught.value.details["fields"]
        assert set(fields) == {"email", "time_zone"}
        assert not User.objects.exists()
        assert not PatientProfile.objects.exists()


class TestUserCreate:
    def test_staff_creates_a_doctor_with_inline_profile(self):
        # given
        staff = StaffFactory()
        hospital = HospitalFactory()
        # when
        doctor = user_create(
            actor=staff,
            email="Dr.Who@Example.test",
            password=PASSWORD,
            role=Role.DOCTOR,
            first_name="John",
            last_name="Smith",
            time_zone="Europe/Paris",
            clinician_profile={
                "specialty": "Cardiology",
                "hospital_id": hospital.id,
                "license_number": "LIC-1",
                "bio": "Hearts.",
                "min_notice_minutes": 120,
                "max_horizon_days": 30,
            },
        )
        # then
        profile = ClinicianProfile.objects.get(user=doctor)
        assert doctor.email == "dr.who@example.test"
        assert doctor.role == Role.DOCTOR
        assert doctor.is_staff is False
        assert (profile.specialty, profile.hospital, profile.license_number) == (
            "Cardiology",
            hospital,
            "LIC-1",
        )
        assert (profile.min_notice_minutes, profile.max_horizon_days) == (120, 30)
        assert not PatientProfile.objects.filter(user=doctor).exists()

    def test_psychologist_without_profile_data_gets_an_empty_profile(self):
        user = user_create(
            actor=StaffFactory(), email="psy@example.test", password=PASSWORD, role="psychologist"
        )
        assert ClinicianProfile.objects.get(user=user).specialty == ""

    def test_staff_role_may_use_the_admin(self):
        user = user_create(
            actor=StaffFactory(), email="office@example.test", password=PASSWORD, role="staff"
        )
        assert user.is_staff is True
        assert not PatientProfile.objects.filter(user=user).exists()
        assert not ClinicianProfile.objects.filter(user=user).exists()

    def test_patient_created_by_staff_gets_a_patient_profile(self):
        user = user_create(
            actor=StaffFactory(), email="p@example.test", password=PASSWORD, role="patient"
        )
        assert PatientProfile.objects.filter(user=user).exists()

    @pytest.mark.parametrize("factory", [PatientFactory, DoctorFactory])
    def test_only_staff_may_create_users(self, factory):
        actor = factory()
        before = User.objects.count()
        with pytest.raises(NotAllowed) as caught:
            user_create(actor=actor, email="x@example.test", password=PASSWORD, role="doctor")
        assert caught.value.code == "role_not_allowed"
        assert User.objects.count() == before

    def test_unknown_role_is_a_field_error(self):
        with pytest.raises(InvalidRequest) as caught:
            user_create(
                actor=StaffFactory(), email="x@example.test", password=PASSWORD, role="admin"
            )
        assert "role" in caught.value.details["fields"]

    def test_profile_for_a_patient_is_refused(self):
        with pytest.raises(InvalidRequest) as caught:
            user_create(
                actor=StaffFactory(),
                email="x@example.test",
                password=PASSWORD,
                role="patient",
                clinician_profile={"specialty": "Cardiology"},
            )
        assert "clinician_profile" in caught.value.details["fields"]
        assert not User.objects.filter(email="x@example.test").exists()

    def test_unknown_hospital_and_unknown_profile_field_are_refused(self):
        staff = StaffFactory()
        with pytest.raises(InvalidRequest) as unknown_hospital:
            user_create(
                actor=staff,
                email="x@example.test",
                password=PASSWORD,
                role="doctor",
                clinician_profile={"hospital_id": 999_999},
            )
        with pytest.raises(InvalidRequest) as unknown_field:
            user_create(
                actor=staff,
                email="x@example.test",
                password=PASSWORD,
                role="doctor",
                clinician_profile={"salary": 1},
            )
        assert "hospital" in unknown_hospital.value.details["fields"]["clinician_profile"]
        assert "salary" in unknown_field.value.details["fields"]["clinician_profile"]
        assert not User.objects.filter(email="x@example.test").exists()
        assert not ClinicianProfile.objects.filter(user__email="x@example.test").exists()

    def test_email_taken(self):
        PatientFactory(email="dup@example.test")
        with pytest.raises(Conflict) as caught:
            user_create(
                actor=StaffFactory(), email="DUP@example.test", password=PASSWORD, role="doctor"
            )
        assert caught.value.code == "email_taken"


class TestUserUpdateSelf:
    def test_updates_names_and_time_zone(self):
        user = PatientFactory()
        user_update_self(user=user, data={"first_name": "Grace", "time_zone": "Asia/Tokyo"})
        user.refresh_from_db()
        assert (user.first_name, user.time_zone) == ("Grace", "Asia/Tokyo")

    def test_refuses_role_and_bad_time_zone(self):
        user = PatientFactory(time_zone="UTC")
        with pytest.raises(InvalidRequest):
            user_update_self(user=user, data={"role": "staff"})
        with pytest.raises(InvalidRequest):
            user_update_self(user=user, data={"time_zone": "Nowhere/Land"})
        user.refresh_from_db()
        assert (user.role, user.time_zone) == ("patient", "UTC")


class TestUserUpdate:
    def test_role_change_to_doctor_adds_a_clinician_profile(self):
        patient = PatientFactory()
        user_update(actor=StaffFactory(), user=patient, data={"role": "doctor"})
        patient.refresh_from_db()
        assert patient.role == "doctor"
        assert ClinicianProfile.objects.filter(user=patient).exists()
        # the patient profile (and its history) is kept
        assert PatientProfile.objects.filter(user=patient).exists()

    def test_staff_role_follows_admin_access(self):
        staff_actor = StaffFactory()
        user = PatientFactory()
        user_update(actor=staff_actor, user=user, data={"role": "staff"})
        user.refresh_from_db()
        assert user.is_staff is True
        user_update(actor=staff_actor, user=user, data={"role": "patient"})
        user.refresh_from_db()
        assert user.is_staff is False

    def test_email_is_normalized_and_kept_unique(self):
        staff_actor = StaffFactory()
        PatientFactory(email="other@example.test")
        user = PatientFactory(email="me@example.test")
        with pytest.raises(Conflict):
            user_update(actor=staff_actor, user=user, data={"email": "OTHER@example.test"})
        user_update(actor=staff_actor, user=user, data={"email": "New@Example.test"})
        user.refresh_from_db()
        assert user.email == "new@example.test"

    def test_only_superusers_grant_superuser_and_only_staff_edit(self):
        user = PatientFactory()
        with pytest.raises(NotAllowed):
            user_update(actor=StaffFactory(), user=user, data={"is_superuser": True})
        with pytest.raises(NotAllowed):
            user_update(actor=DoctorFactory(), user=user, data={"first_name": "X"})
        user.refresh_from_db()
        assert user.is_superuser is False
        assert user.first_name != "X"
