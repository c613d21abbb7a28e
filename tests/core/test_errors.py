"""The error envelope: every failure leaves as {"error": {code, message, details, request_id}}."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = [pytest.mark.urls("tests.core.urls"), pytest.mark.django_db]

ENVELOPE_KEYS = {"code", "message", "details", "request_id"}


def assert_envelope(response, *, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ENVELOPE_KEYS
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    # The id in the body is the id of the response header: one id per request.
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("parse", 400, "malformed_request"),
        ("authentication_failed", 401, "authentication_failed"),
        ("not_authenticated", 401, "not_authenticated"),
        ("drf_permission_denied", 403, "permission_denied"),
        ("drf_not_found", 404, "not_found"),
        ("method_not_allowed", 405, "method_not_allowed"),
        ("not_acceptable", 406, "not_acceptable"),
        ("unsupported_media_type", 415, "unsupported_media_type"),
        ("throttled", 429, "throttled"),
        ("validation_dict", 400, "validation_error"),
        ("validation_list", 400, "validation_error"),
        ("api_exception", 500, "error"),
        ("http404", 404, "not_found"),
        ("django_permission_denied", 403, "permission_denied"),
        ("domain_invalid", 400, "invalid"),
        ("domain_not_allowed", 403, "permission_denied"),
        ("domain_not_found", 404, "not_found"),
        ("domain_conflict", 409, "slot_unavailable"),
        ("domain_unprocessable", 422, "unprocessable"),
        ("domain_base", 400, "invalid"),
        ("data_error", 400, "value_out_of_range"),
        ("overflow", 400, "value_out_of_range"),
    ],
)
def test_every_raised_error_kind_is_rendered_in_the_envelope(api_client, kind, status, code):
    # when a view raises this kind of error
    response = api_client.get(f"/raise/{kind}/")

    # then the answer is the envelope with a stable code
    assert_envelope(response, status=status, code=code)


def test_validation_errors_list_the_fields(api_client):
    error = assert_envelope(
        api_client.get("/raise/validation_dict/"), status=400, code="validation_error"
    )
    assert error["details"] == {"fields": {"name": ["This field is required."]}}

    error = assert_envelope(
        api_client.get("/raise/validation_list/"), status=400, code="validation_error"
    )
    assert error["details"] == {"fields": {"non_field_errors": ["Start must be before end."]}}


def test_domain_errors_carry_message_and_details(api_client):
    error = assert_envelope(api_client.get("/raise/domain_invalid/"), status=400, code="invalid")
    assert error["message"] == "Bad dates."
    assert error["details"] == {"field": "start"}

    error = assert_envelope(
        api_client.get("/raise/domain_conflict/"), status=409, code="slot_unavailable"
    )
    assert error["message"] == "Slot taken."


def test_throttled_tells_when_to_retry(api_client):
    response = api_client.get("/raise/throttled/")
    error = assert_envelope(response, status=429, code="throttled")
    assert error["details"]["retry_after_seconds"] == 42
    assert response["Retry-After"] == "42"


def test_not_authenticated_keeps_the_www_authenticate_challenge(api_client, django_user_model):
    # given an endpoint that needs a user, when it is called anonymously
    response = api_client.post("/hospitals/", {"code": "H1", "name": "X"}, format="json")

    # then 401 in the envelope, with the JWT challenge
    assert_envelope(response, status=401, code="not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_unexpected_exception_is_a_500_envelope_without_internals(api_client):
    # given a client that receives the answer instead of the exception
    client = APIClient(raise_request_exception=False)

    # when the view hits a bug
    response = client.get("/raise/unexpected/")

    # then a generic 500 envelope, leaking nothing
    error = assert_envelope(response, status=500, code="server_error")
    assert "a bug" not in response.content.decode()
    assert error["details"] == {}


def test_malformed_json_is_a_400_envelope(client_for):
    from tests.factories import StaffFactory

    client = client_for(StaffFactory())
    response = client.generic(
        "POST",
        "/hospitals/",
        b'{"code": "H1", "name": ',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert_envelope(response, status=400, code="malformed_request")


def test_a_body_of_another_media_type_is_415(client_for):
    from tests.factories import StaffFactory

    client = client_for(StaffFactory())
    response = client.generic(
        "POST", "/hospitals/", b"code=H1", content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert_envelope(response, status=415, code="unsupported_media_type")


def test_a_wrong_method_on_a_drf_view_is_405(client_for):
    from tests.factories import StaffFactory

    response = client_for(StaffFactory()).get("/hospitals/")
    assert_envelope(response, status=405, code="method_not_allowed")


@pytest.mark.urls("config.urls")
@pytest.mark.parametrize("path", ["/api/v1/no-such-endpoint/", "/api/nothing", "/nowhere/"])
def test_unknown_paths_answer_the_json_envelope(api_client, path):
    response = api_client.get(path)
    assert_envelope(response, status=404, code="not_found")


class TestRequestId:
    @pytest.mark.urls("config.urls")
    @pytest.mark.parametrize("path", ["/api/schema/", "/api/v1/no-such-endpoint/"])
    def test_every_response_carries_a_fresh_request_id(self, api_client, path):
        first = api_client.get(path)
        second = api_client.get(path)
        assert len(first["X-Request-ID"]) == 32
        assert first["X-Request-ID"] != second["X-Request-ID"]

    @pytest.mark.parametrize(
        "incoming", ["req-12345678", "0f3c2a1e-8d4b-4c5e-9f00-1234567890ab", "a" * 128]
    )
    def test_a_valid_incoming_request_id_is_kept(self, api_client, incoming):
        response = api_client.get("/raise/domain_conflict/", HTTP_X_REQUEST_ID=incoming)
        assert response["X-Request-ID"] == incoming
        assert response.json()["error"]["request_id"] == incoming

    @pytest.mark.parametrize(
        "incoming",
        [
            "a" * 129,  # too long
            "short",  # too short to be a real id
            "has spaces in it",
            "abcdefgh\r\nX-Injected: 1",  # header injection attempt
            "abcdefgh\n",
            "ünïcödé-id-123",
            "",
        ],
    )
    def test_an_invalid_incoming_request_id_is_replaced(self, api_client, incoming):
        response = api_client.get("/raise/domain_conflict/", HTTP_X_REQUEST_ID=incoming)
        kept = response["X-Request-ID"]
        assert kept != incoming
        assert len(kept) == 32
        assert kept.isalnum()
        assert response.json()["error"]["request_id"] == kept
        assert "X-Injected" not in response


@pytest.mark.urls("config.urls")
def test_an_id_beyond_any_integer_column_in_a_filter_is_400_not_500(client_for):
    # given a list filtered by a clinician id larger than any database integer
    from tests.factories import PatientFactory

    client = client_for(PatientFactory())

    # when it is asked for
    response = client.get("/api/v1/availability/", {"clinician": str(10**30)})

    # then the filter's own bound refuses it: a 400 naming the field
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "clinician" in error["details"]["fields"]


@pytest.mark.postgres
@pytest.mark.urls("config.urls")
def test_a_utc_offset_postgresql_cannot_write_is_never_a_500(client_for):
    # given a filter time whose offset Python accepts but PostgreSQL's text form refuses
    # (beyond ±15:59)
    from django.db import connection

    from tests.factories import PatientFactory

    client = client_for(PatientFactory())

    # when it is used in a list filter
    response = client.get("/api/v1/availability/", {"from": "2026-03-01T10:00:00+16:09"})

    # then with server-side binding PostgreSQL receives the instant itself (binary) and
    # answers; with client-side binding the quoted text is refused: a 400 envelope
    if connection.settings_dict["OPTIONS"].get("server_side_binding"):
        assert response.status_code == 200
        assert response.json()["results"] == []
    else:
        assert response.status_code == 400
        assert "error" in response.json()
