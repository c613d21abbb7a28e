"""Property tests: no body or query string sent to the accounts API produces a 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from tests.factories import PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)  # includes NUL and other characters PostgreSQL refuses
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def bodies(*fields: str) -> st.SearchStrategy:
    field_values = json_values | st.emails() | st.sampled_from(["doctor", "patient", "UTC"])
    return json_values | st.fixed_dictionaries({}, optional=dict.fromkeys(fields, field_values))


def assert_handled(response) -> None:
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details", "request_id"}


class TestNoServerErrors:
    @FUZZ
    @given(body=bodies("email", "password", "first_name", "last_name", "time_zone", "role"))
    def test_register(self, api_client, body):
        before = User.objects.count()
        response = api_client.post(
            "/api/v1/auth/register/", json.dumps(body), content_type="application/json"
        )
        assert_handled(response)
        assert User.objects.count() == before + (1 if response.status_code == 201 else 0)

    @FUZZ
    @given(body=bodies("email", "password"))
    def test_token(self, api_client, body):
        response = api_client.post(
            "/api/v1/auth/token/", json.dumps(body), content_type="application/json"
        )
        assert_handled(response)

    @FUZZ
    @given(body=bodies("refresh"))
    def test_refresh_and_logout(self, client_for, api_client, body):
        raw = json.dumps(body)
        client = client_for(PatientFactory())
        for url, sender in (
            ("/api/v1/auth/token/refresh/", api_client),
            ("/api/v1/auth/logout/", client),
        ):
            assert_handled(sender.post(url, raw, content_type="application/json"))

    @FUZZ
    @given(body=bodies("email", "password", "role", "first_name", "time_zone", "clinician_profile"))
    def test_user_create(self, client_for, body):
        response = client_for(StaffFactory()).post(
            "/api/v1/users/", json.dumps(body), content_type="application/json"
        )
        assert_handled(response)

    @FUZZ
    @given(body=bodies("first_name", "last_name", "time_zone"))
    def test_me_patch(self, client_for, body):
        response = client_for(PatientFactory()).patch(
            "/api/v1/me/", json.dumps(body), content_type="application/json"
        )
        assert_handled(response)

    @FUZZ
    @given(
        params=st.dictionaries(
            st.sampled_from(["kind", "specialty", "hospital", "page", "page_size", "q", "country"]),
            st.text(max_size=12),
            max_size=4,
        )
    )
    def test_directory_query_strings(self, client_for, params):
        client = client_for(PatientFactory())
        for url in ("/api/v1/clinicians/", "/api/v1/hospitals/"):
            assert_handled(client.get(url, params))
