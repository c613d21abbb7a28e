from __future__ import annotations

import pytest

from accounts.models import ClinicianProfile, User
from tests.accounts.test_api_auth import assert_error
from tests.factories import (
    PASSWORD,
    DoctorFactory,
    HospitalFactory,
    PatientFactory,
    PsychologistFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users/"
ME = "/api/v1/me/"


def user_url(user_id: int) -> str:
    return f"/api/v1/users/{user_id}/"


class TestMe:
    def test_get_returns_the_signed_in_user_without_secrets(self, client_for):
        doctor = DoctorFactory(email="me@example.test", time_zone="Europe/Rome")
        response = client_for(doctor).get(ME)
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == doctor.id
        assert body["email"] == "me@example.test"
        assert body["role"] == "doctor"
        assert body["time_zone"] == "Europe/Rome"
        assert body["clinician_profile"]["hospital"]["id"] == doctor.clinician_profile.hospital_id
        text = response.content.decode()
        assert "password" not in text
        assert doctor.password not in text

    def test_anonymous_is_401(self, api_client):
        assert_error(api_client.get(ME), 401, "not_authenticated")

    def test_a_garbage_token_is_401(self, api_client):
        api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")
        assert_error(api_client.get(ME), 401, "authentication_failed")

    def test_patch_changes_names_and_time_zone_only(self, client_for):
        patient = PatientFactory(first_name="Old", time_zone="UTC")
        response = client_for(patient).patch(
            ME,
            {
                "first_name": "New",
                "time_zone": "America/New_York",
                "role": "staff",
                "email": "x@y.z",
            },
            format="json",
        )
        assert response.status_code == 200
        assert response.json()["first_name"] == "New"
        patient.refresh_from_db()
        assert (patient.first_name, patient.time_zone) == ("New", "America/New_York")
        assert patient.role == "patient"
        assert patient.email != "x@y.z"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"time_zone": "Not/AZone"}, "time_zone"),
            ({"time_zone": None}, "time_zone"),
            ({"first_name": ["a"]}, "first_name"),
            ({"last_name": "x" * 151}, "last_name"),
        ],
    )
    def test_patch_with_bad_values_is_400_and_changes_nothing(
        self, client_for, snapshot, body, field
    ):
        patient = PatientFactory()
        client = client_for(patient)
        assert_unchanged = snapshot()
        error = assert_error(client.patch(ME, body, format="json"), 400, "validation_error")
        assert field in error["details"]["fields"]
        assert_unchanged()

    def test_patch_with_malformed_json_is_400(self, client_for, snapshot):
        client = client_for(PatientFactory())
        assert_unchanged = snapshot()
        response = client.patch(ME, "{x", content_type="application/json")
        assert_error(response, 400, "malformed_request")
        assert_unchanged()


class TestUserCreate:
    def doctor_body(self, **overrides):
        body = {
            "email": "New.Doctor@Example.test",
            "password": PASSWORD,
            "role": "doctor",
            "first_name": "Nina",
            "last_name": "Doctor",
            "time_zone": "Europe/Madrid",
            "clinician_profile": {
                "specialty": "Neurology",
                "hospital": HospitalFactory().id,
                "license_number": "NEURO-7",
                "bio": "Brains.",
                "min_notice_minutes": 30,
                "max_horizon_days": 60,
            },
        }
        body.update(overrides)
        return body

    def test_staff_create_a_doctor_with_inline_profile(self, client_for):
        # given
        client = client_for(StaffFactory())
        body = self.doctor_body()
        # when
        response = client.post(USERS, body, format="json")
        # then
        assert response.status_code == 201, response.content
        created = User.objects.get(email="new.doctor@example.test")
        assert created.role == "doctor"
        assert created.check_password(PASSWORD)
        profile = ClinicianProfile.objects.get(user=created)
        assert profile.specialty == "Neurology"
        assert profile.hospital_id == body["clinician_profile"]["hospital"]
        assert (profile.min_notice_minutes, profile.max_horizon_days) == (30, 60)
        out = response.json()
        assert out["id"] == created.id
        assert out["clinician_profile"]["specialty"] == "Neurology"
        assert out["clinician_profile"]["hospital"]["id"] == profile.hospital_id
        assert "password" not in response.content.decode()

    @pytest.mark.parametrize("role", ["staff", "psychologist", "patient"])
    def test_staff_create_any_role(self, client_for, role):
        response = client_for(StaffFactory()).post(
            USERS, {"email": f"{role}@example.test", "password": PASSWORD, "role": role}
        )
        assert response.status_code == 201
        created = User.objects.get(email=f"{role}@example.test")
        assert created.role == role
        assert created.is_staff is (role == "staff")

    @pytest.mark.parametrize("factory", [PatientFactory, DoctorFactory, PsychologistFactory])
    def test_other_roles_are_403_and_nothing_is_created(self, client_for, snapshot, factory):
        client = client_for(factory())
        body = self.doctor_body()
        assert_unchanged = snapshot()
        error = assert_error(client.post(USERS, body, format="json"), 403, "permission_denied")
        assert "staff" in error["message"].lower()
        assert_unchanged()

    def test_anonymous_is_401(self, api_client, snapshot):
        body = self.doctor_body()
        assert_unchanged = snapshot()
        assert_error(api_client.post(USERS, body, format="json"), 401, "not_authenticated")
        assert_unchanged()

    def test_email_taken_is_409(self, client_for, snapshot):
        PatientFactory(email="new.doctor@example.test")
        client = client_for(StaffFactory())
        body = self.doctor_body()
        assert_unchanged = snapshot()
        assert_error(client.post(USERS, body, format="json"), 409, "email_taken")
        assert_unchanged()

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"role": "admin"}, "role"),
            ({"role": None}, "role"),
            ({"email": 42}, "email"),
            ({"password": "short"}, "password"),
            ({"time_zone": "Moon/Base"}, "time_zone"),
            ({"clinician_profile": {"hospital": 999_999}}, "clinician_profile"),
            ({"clinician_profile": {"hospital": "abc"}}, "clinician_profile"),
            ({"clinician_profile": {"min_notice_minutes": -5}}, "clinician_profile"),
            ({"clinician_profile": {"max_horizon_days": "many"}}, "clinician_profile"),
            ({"clinician_profile": "Neurology"}, "clinician_profile"),
            ({"role": "patient"}, "clinician_profile"),
            ({"role": "staff"}, "clinician_profile"),
        ],
    )
    def test_bad_fields_are_400_and_nothing_is_created(
        self, client_for, snapshot, overrides, field
    ):
        client = client_for(StaffFactory())
        body = self.doctor_body(**overrides)
        assert_unchanged = snapshot()
        error = assert_error(client.post(USERS, body, format="json"), 400, "validation_error")
        assert field in error["details"]["fields"]
        assert_unchanged()

    @pytest.mark.parametrize("missing", ["email", "password", "role"])
    def test_missing_fields_are_400(self, client_for, snapshot, missing):
        client = client_for(StaffFactory())
        body = self.doctor_body()
        del body[missing]
        assert_unchanged = snapshot()
        error = assert_error(client.post(USERS, body, format="json"), 400, "validation_error")
        assert missing in error["details"]["fields"]
        assert_unchanged()

    @pytest.mark.parametrize("raw", ["{", "[1, 2]", "null"])
    def test_malformed_json_is_400(self, client_for, snapshot, raw):
        client = client_for(StaffFactory())
        assert_unchanged = snapshot()
        response = client.post(USERS, raw, content_type="application/json")
        assert response.status_code == 400
        assert_unchanged()

    def test_listing_users_is_not_offered(self, client_for):
        assert_error(client_for(StaffFactory()).get(USERS), 405, "method_not_allowed")


class TestUserDetail:
    def test_staff_read_anyone(self, client_for):
        doctor = DoctorFactory()
        response = client_for(StaffFactory()).get(user_url(doctor.id))
        assert response.status_code == 200
        assert response.json()["email"] == doctor.email
        assert response.json()["clinician_profile"]["specialty"] == "General practice"

    def test_users_read_themselves(self, client_for):
        patient = PatientFactory()
        response = client_for(patient).get(user_url(patient.id))
        assert response.status_code == 200
        assert response.json()["id"] == patient.id

    @pytest.mark.parametrize("viewer_factory", [PatientFactory, DoctorFactory])
    def test_another_users_id_is_404_like_an_unknown_id(self, client_for, viewer_factory):
        client = client_for(viewer_factory())
        other = PatientFactory()
        foreign = client.get(user_url(other.id))
        unknown = client.get(user_url(999_999))
        assert_error(foreign, 404, "not_found")
        assert_error(unknown, 404, "not_found")
        assert foreign.json()["error"]["message"] == unknown.json()["error"]["message"]

    def test_non_numeric_id_is_404(self, client_for):
        response = client_for(StaffFactory()).get("/api/v1/users/abc/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_anonymous_is_401(self, api_client):
        assert_error(api_client.get(user_url(PatientFactory().id)), 401, "not_authenticated")
