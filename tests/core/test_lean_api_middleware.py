"""The lean path of an API call with a bearer token (issue #18): the session, session user,
flash-message and htmx middleware pass it by; security headers, the request id, the
client IP, logging, metrics and CSRF (for everything else) still run. A browser page and
a session-authenticated API call keep the whole chain."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from core.middleware import is_bearer_api_call
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")


@pytest.mark.parametrize(
    ("path", "authorization", "lean"),
    [
        ("/api/v1/appointments/", "Bearer abc.def.ghi", True),
        ("/api/v1/appointments/", "Bearer ", True),  # JWT refuses it: 401, no session needed
        ("/api/v1/appointments/", None, False),  # the session-authenticated API
        ("/api/v1/appointments/", "Basic dXNlcjpwYXNz", False),
        ("/api/v1/appointments/", "bearer abc", False),  # not JWT's header type: whole chain
        ("/dashboard/", "Bearer abc.def.ghi", False),  # a page is never lean
        ("/admin/", "Bearer abc.def.ghi", False),
        ("/apiary/", "Bearer abc.def.ghi", False),
    ],
)
def test_only_an_api_call_with_a_bearer_token_takes_the_lean_path(path, authorization, lean):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    assert is_bearer_api_call(RequestFactory().get(path, **headers)) is lean


def test_a_bearer_call_meets_no_session_messages_or_htmx_and_keeps_its_headers(client_for):
    patient = PatientFactory()
    response = client_for(patient).get("/api/v1/appointments/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content
    request = response.wsgi_request
    # the browser middleware passed it by
    assert not hasattr(request, "session")
    assert not hasattr(request, "_messages")
    assert not hasattr(request, "htmx")
    # the Django request still names the JWT's user (DRF sets it), for the logs
    assert request.user.pk == patient.pk
    # no cookie is set on it
    assert not response.cookies
    # and the rest of the chain ran: security headers, the request id, the CSP
    for header in SECURITY_HEADERS:
        assert response.has_header(header), header
    assert response.has_header("X-Request-ID")
    assert response.has_header("Content-Security-Policy") or response.has_header(
        "Content-Security-Policy-Report-Only"
    )


def test_a_bad_bearer_token_is_refused_without_falling_back_to_the_session(client, client_for):
    # given a browser signed in by session, sending a bearer token that does not verify
    patient = PatientFactory()
    client.force_login(patient)
    response = client.get("/api/v1/appointments/", HTTP_AUTHORIZATION="Bearer not-a-token")
    # then the token decides: 401, in the error envelope, and no session was read
    assert response.status_code == 401
    assert response.json()["error"]["code"]
    assert not hasattr(response.wsgi_request, "session")


def test_a_session_authenticated_api_call_keeps_the_whole_chain(client):
    patient = PatientFactory()
    client.force_login(patient)
    response = client.get("/api/v1/appointments/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content
    request = response.wsgi_request
    assert request.session.get("_auth_user_id") == str(patient.pk)
    assert hasattr(request, "_messages")
    assert request.htmx
    for header in SECURITY_HEADERS:
        assert response.has_header(header), header


def test_a_session_authenticated_api_write_still_needs_its_csrf_token(client):
    # CsrfViewMiddleware runs for every request; DRF's session authentication enforces
    # CSRF on an unsafe call without a bearer token, as before
    from django.test import Client

    patient = PatientFactory()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(patient)
    response = strict.post(
        "/api/v1/appointments/",
        {"slot": 1},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="csrf-check",
    )
    assert response.status_code == 403
    assert "CSRF" in response.content.decode()
