from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import PatientProfile, User
from tests.factories import PASSWORD, PatientFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


def login(api_client, email: str, password: str = PASSWORD):
    return api_client.post(TOKEN, {"email": email, "password": password}, format="json")


class TestRegister:
    def test_creates_a_patient(self, api_client):
        # when
        response = api_client.post(
            REGISTER,
            {
                "email": "New.Patient@Example.test",
                "password": PASSWORD,
                "first_name": "New",
                "last_name": "Patient",
                "time_zone": "Europe/Berlin",
            },
            format="json",
        )
        # then
        assert response.status_code == 201, response.content
        body = response.json()
        user = User.objects.get(email="new.patient@example.test")
        assert body == {
            "id": user.id,
            "email": "new.patient@example.test",
            "first_name": "New",
            "last_name": "Patient",
            "role": "patient",
            "time_zone": "Europe/Berlin",
            "is_active": True,
            "date_joined": body["date_joined"],
            "clinician_profile": None,
        }
        assert "password" not in response.content.decode()
        assert PatientProfile.objects.filter(user=user).exists()
        # and the new patient can log in at once
        assert login(api_client, "NEW.patient@example.test").status_code == 200

    def test_role_patient_in_the_body_is_accepted(self, api_client):
        response = api_client.post(
            REGISTER, {"email": "p@example.test", "password": PASSWORD, "role": "patient"}
        )
        assert response.status_code == 201
        assert User.objects.get(email="p@example.test").role == "patient"

    @pytest.mark.parametrize("role", ["doctor", "psychologist", "staff", "admin"])
    def test_asking_for_another_role_is_refused(self, api_client, snapshot, role):
        assert_unchanged = snapshot()
        response = api_client.post(
            REGISTER, {"email": "evil@example.test", "password": PASSWORD, "role": role}
        )
        error = assert_error(response, 400, "validation_error")
        assert "role" in error["details"]["fields"]
        assert_unchanged()

    def test_is_staff_or_superuser_in_the_body_are_ignored(self, api_client):
        response = api_client.post(
            REGISTER,
            {
                "email": "sneaky@example.test",
                "password": PASSWORD,
                "is_staff": True,
                "is_superuser": True,
            },
        )
        assert response.status_code == 201
        user = User.objects.get(email="sneaky@example.test")
        assert (user.role, user.is_staff, user.is_superuser) == ("patient", False, False)

    def test_email_taken_in_any_case_is_409(self, api_client, snapshot):
        PatientFactory(email="taken@example.test")
        assert_unchanged = snapshot()
        response = api_client.post(REGISTER, {"email": "Taken@Example.TEST", "password": PASSWORD})
        assert_error(response, 409, "email_taken")
        assert_unchanged()

    def test_weak_password_is_400_with_validator_messages(self, api_client, snapshot):
        assert_unchanged = snapshot()
        response = api_client.post(REGISTER, {"email": "w@example.test", "password": "password"})
        error = assert_error(response, 400, "validation_error")
        assert any("too common" in m for m in error["details"]["fields"]["password"])
        assert_unchanged()

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"password": PASSWORD}, "email"),
            ({"email": "a@example.test"}, "password"),
            ({"email": "not-an-email", "password": PASSWORD}, "email"),
            ({"email": ["a@example.test"], "password": PASSWORD}, "email"),
            ({"email": "a@example.test", "password": {"x": 1}}, "password"),
            ({"email": "a@example.test", "password": PASSWORD, "time_zone": 5}, "time_zone"),
            ({"email": "a@example.test", "password": PASSWORD, "time_zone": "X/Y"}, "time_zone"),
            (
                {"email": "a@example.test", "password": PASSWORD, "first_name": "x" * 151},
                "first_name",
            ),
            ({"email": "a@example.test", "password": None}, "password"),
        ],
    )
    def test_missing_and_wrong_fields_are_400(self, api_client, snapshot, body, field):
        assert_unchanged = snapshot()
        response = api_client.post(REGISTER, body, format="json")
        error = assert_error(response, 400, "validation_error")
        assert field in error["details"]["fields"]
        assert_unchanged()

    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            ("{not json", "malformed_request"),  # the parser refuses it
            # parsed, but not an object of fields: the serializer refuses it
            ("", "validation_error"),
            ("[]", "validation_error"),
            ("null", "validation_error"),
            ('"text"', "validation_error"),
            ("42", "validation_error"),
        ],
    )
    def test_malformed_or_non_object_json_is_400(self, api_client, snapshot, raw, code):
        assert_unchanged = snapshot()
        response = api_client.post(REGISTER, raw, content_type="application/json")
        assert_error(response, 400, code)
        assert_unchanged()

    def test_form_encoded_body_is_415(self, api_client, snapshot):
        assert_unchanged = snapshot()
        response = api_client.post(
            REGISTER, "email=a%40example.test", content_type="application/x-www-form-urlencoded"
        )
        assert_error(response, 415, "unsupported_media_type")
        assert_unchanged()

    def test_a_stale_token_does_not_block_registration(self, api_client):
        api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        response = api_client.post(REGISTER, {"email": "s@example.test", "password": PASSWORD})
        assert response.status_code == 201


class TestToken:
    def test_email_and_password_give_a_token_pair_that_authenticates(self, api_client):
        user = PatientFactory(email="login@example.test")
        response = login(api_client, "Login@Example.test")
        assert response.status_code == 200
        assert set(response.json()) == {"access", "refresh"}
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
        me = api_client.get(ME)
        assert me.status_code == 200
        assert me.json()["id"] == user.id

    def test_wrong_password_is_401(self, api_client):
        PatientFactory(email="login@example.test")
        error = assert_error(
            login(api_client, "login@example.test", "wrong"), 401, "authentication_failed"
        )
        assert "access" not in error

    def test_unknown_email_is_the_same_401(self, api_client):
        assert_error(login(api_client, "nobody@example.test"), 401, "authentication_failed")

    def test_inactive_user_cannot_log_in(self, api_client):
        PatientFactory(email="gone@example.test", is_active=False)
        assert_error(login(api_client, "gone@example.test"), 401, "authentication_failed")

    @pytest.mark.parametrize(
        "body",
        [{}, {"email": "a@example.test"}, {"password": PASSWORD}, {"email": 1, "password": []}],
    )
    def test_missing_or_wrong_fields_are_400(self, api_client, body):
        response = api_client.post(TOKEN, body, format="json")
        assert_error(response, 400, "validation_error")

    def test_malformed_json_is_400(self, api_client):
        response = api_client.post(TOKEN, "{oops", content_type="application/json")
        assert_error(response, 400, "malformed_request")


class TestAxesLockout:
    def test_repeated_failures_lock_the_account_even_for_the_right_password(self, api_client):
        # given
        limit = settings.AXES_FAILURE_LIMIT
        PatientFactory(email="target@example.test")
        bystander = PatientFactory(email="bystander@example.test")
        # when: limit - 1 failures are plain 401s (also in another letter case)
        for attempt in range(limit - 1):
            email = "TARGET@example.test" if attempt % 2 else "target@example.test"
            assert login(api_client, email, "wrong").status_code == 401
        # and the failure that reaches the limit locks the account
        assert_error(login(api_client, "target@example.test", "wrong"), 429, "account_locked")
        # then the right password is refused too, without tokens
        locked = login(api_client, "target@example.test")
        error = assert_error(locked, 429, "account_locked")
        assert "access" not in locked.json()
        assert error["message"]
        assert not OutstandingToken.objects.filter(user__email="target@example.test").exists()
        assert (
            AccessAttempt.objects.get(username="target@example.test").failures_since_start >= limit
        )
        # and another account is not affected
        assert login(api_client, bystander.email).status_code == 200

    def test_a_success_resets_the_failure_count(self, api_client):
        limit = settings.AXES_FAILURE_LIMIT
        PatientFactory(email="target@example.test")
        for _ in range(limit - 1):
            login(api_client, "target@example.test", "wrong")
        assert login(api_client, "target@example.test").status_code == 200
        for _ in range(limit - 1):
            assert login(api_client, "target@example.test", "wrong").status_code == 401
        assert login(api_client, "target@example.test").status_code == 200


class TestThrottle:
    @pytest.fixture
    def three_per_minute(self, monkeypatch):
        # DRF reads the rates into the class at import time; this sets the configured value.
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "3/min"})

    def test_auth_endpoints_share_a_scope_and_answer_429_in_the_envelope(
        self, api_client, three_per_minute
    ):
        PatientFactory(email="t@example.test")
        assert login(api_client, "t@example.test").status_code == 200
        assert api_client.post(REGISTER, {}, format="json").status_code == 400
        assert api_client.post(REFRESH, {}, format="json").status_code == 400
        # the fourth call in a minute, whatever the endpoint, is throttled
        response = login(api_client, "t@example.test")
        error = assert_error(response, 429, "throttled")
        assert error["details"]["retry_after_seconds"] > 0
        assert int(response["Retry-After"]) > 0

    def test_other_endpoints_are_not_throttled_by_the_auth_scope(
        self, client_for, three_per_minute
    ):
        client = client_for(PatientFactory())
        for _ in range(5):
            assert client.get(ME).status_code == 200

    def test_the_configured_rate_is_used(self):
        assert (
            ScopedRateThrottle.THROTTLE_RATES["auth"]
            == settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"]
        )


class TestRefresh:
    def test_rotation_returns_a_new_pair_and_refuses_the_used_token(self, api_client):
        # given
        PatientFactory(email="r@example.test")
        first = login(api_client, "r@example.test").json()
        # when
        rotated = api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json")
        # then
        assert rotated.status_code == 200
        assert set(rotated.json()) == {"access", "refresh"}
        assert rotated.json()["refresh"] != first["refresh"]
        # and the used refresh token is refused
        reused = api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json")
        assert_error(reused, 401, "authentication_failed")
        # while the new one still works once
        again = api_client.post(REFRESH, {"refresh": rotated.json()["refresh"]}, format="json")
        assert again.status_code == 200

    def test_garbage_and_access_tokens_are_401(self, api_client):
        user = PatientFactory()
        access = str(RefreshToken.for_user(user).access_token)
        for token in ["garbage", access]:
            response = api_client.post(REFRESH, {"refresh": token}, format="json")
            assert_error(response, 401, "authentication_failed")

    def test_token_of_a_deleted_user_is_401(self, api_client):
        user = PatientFactory()
        refresh = str(RefreshToken.for_user(user))
        user.delete()
        response = api_client.post(REFRESH, {"refresh": refresh}, format="json")
        assert response.status_code == 401

    def test_token_of_a_deactivated_user_is_401(self, api_client):
        user = PatientFactory()
        refresh = str(RefreshToken.for_user(user))
        User.objects.filter(id=user.id).update(is_active=False)
        response = api_client.post(REFRESH, {"refresh": refresh}, format="json")
        assert response.status_code == 401

    @pytest.mark.parametrize("body", [{}, {"refresh": None}, {"refresh": ["x"]}])
    def test_missing_or_wrong_field_is_400(self, api_client, body):
        assert_error(api_client.post(REFRESH, body, format="json"), 400, "validation_error")


class TestLogout:
    def test_blacklists_the_refresh_token(self, client_for, api_client):
        # given
        user = PatientFactory(email="out@example.test")
        refresh = login(api_client, "out@example.test").json()["refresh"]
        client = client_for(user)
        # when
        response = client.post(LOGOUT, {"refresh": refresh}, format="json")
        # then
        assert response.status_code == 204
        assert BlacklistedToken.objects.filter(token__user=user).count() == 1
        reused = api_client.post(REFRESH, {"refresh": refresh}, format="json")
        assert_error(reused, 401, "authentication_failed")

    def test_another_users_refresh_token_is_400_and_stays_valid(self, client_for, snapshot):
        other = PatientFactory()
        others_refresh = RefreshToken.for_user(other)
        client = client_for(PatientFactory())
        assert_unchanged = snapshot()
        response = client.post(LOGOUT, {"refresh": str(others_refresh)}, format="json")
        assert_error(response, 400, "invalid_token")
        assert_unchanged()

    @pytest.mark.parametrize(
        ("token", "code"),
        [
            ("garbage", "invalid_token"),
            ("", "validation_error"),  # blank: refused by the serializer before any decoding
            ("a.b.c", "invalid_token"),
        ],
    )
    def test_garbage_is_400(self, client_for, snapshot, token, code):
        client = client_for(PatientFactory())
        assert_unchanged = snapshot()
        response = client.post(LOGOUT, {"refresh": token}, format="json")
        assert_error(response, 400, code)
        assert_unchanged()

    def test_an_access_token_or_a_revoked_token_is_400(self, client_for):
        user = PatientFactory()
        refresh = RefreshToken.for_user(user)
        client = client_for(user)
        access_response = client.post(LOGOUT, {"refresh": str(refresh.access_token)}, format="json")
        assert_error(access_response, 400, "invalid_token")
        assert client.post(LOGOUT, {"refresh": str(refresh)}, format="json").status_code == 204
        assert_error(
            client.post(LOGOUT, {"refresh": str(refresh)}, format="json"), 400, "invalid_token"
        )

    def test_needs_authentication(self, api_client, snapshot):
        refresh = RefreshToken.for_user(PatientFactory())
        assert_unchanged = snapshot()
        response = api_client.post(LOGOUT, {"refresh": str(refresh)}, format="json")
        assert_error(response, 401, "not_authenticated")
        assert_unchanged()

    @pytest.mark.parametrize("raw", ["{bad", "[]"])
    def test_malformed_body_is_400(self, client_for, raw):
        client = client_for(PatientFactory())
        response = client.post(LOGOUT, raw, content_type="application/json")
        assert response.status_code == 400
