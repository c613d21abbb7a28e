from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_htmx.middleware import HtmxMiddleware

from core.errors import error_body
from core.request_context import new_request_id, reset_request_id, set_request_id

REQUEST_ID_HEADER = "X-Request-ID"
API_PREFIX = "/api/"
# The FHIR door (fhir/) refuses a NUL itself, as an OperationOutcome.
FHIR_PREFIX = "/fhir/"
NUL_REFUSED = "Null characters are not allowed."
BEARER_PREFIX = "Bearer "


def is_bearer_api_call(request: HttpRequest) -> bool:
    """An API call that carries a bearer token: the JWT authenticates it or refuses it
    (401), so no session, cookie-borne message or htmx header can mean anything to it."""
    return request.path_info.startswith(API_PREFIX) and request.META.get(
        "HTTP_AUTHORIZATION", ""
    ).startswith(BEARER_PREFIX)


class _BrowserOnly:
    """A middleware for browser pages that a bearer-token API call passes straight by
    (issue #18: the lean path for the API). Each is a subclass of the middleware it
    skips, so Django's checks still find it; every other middleware (security headers,
    request id, client IP, CSRF, logging, metrics, axes) runs for every request."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_bearer_api_call(request):
            return self.get_response(request)  # type: ignore[attr-defined]
        return super().__call__(request)  # type: ignore[misc]


class BrowserSessionMiddleware(_BrowserOnly, SessionMiddleware):
    """Sessions, for the pages and the session-authenticated API (the browsable API)."""


class BrowserAuthenticationMiddleware(_BrowserOnly, AuthenticationMiddleware):
    """``request.user`` from the session; a bearer call's user is set by DRF's JWT
    authentication instead (as ``request.user`` of the Django request too)."""


class BrowserMessageMiddleware(_BrowserOnly, MessageMiddleware):
    """The pages' flash messages."""


class BrowserHtmxMiddleware(_BrowserOnly, HtmxMiddleware):
    """``request.htmx``, for the dashboards."""


class RequestIdMiddleware:
    """Give every request an id (a valid incoming ``X-Request-ID`` is kept) and echo it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
        # Downstream readers of the header (django-structlog, logs) see the kept id.
        request.META["HTTP_X_REQUEST_ID"] = request_id
        request.request_id = request_id  # type: ignore[attr-defined]
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RejectNulQueryMiddleware:
    """A NUL character in a page's query string is a 400 in the error envelope.

    No page or filter means anything by it, and PostgreSQL refuses it in a text value, so
    an admin filter (``?status__exact=%00``), an admin autocomplete term or any other
    parameter that reached a query would otherwise end in a DataError (a 500). The API is
    left to its own serializers, which already refuse it field by field after
    authentication.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("QUERY_STRING", "")
        # The raw string is checked first so that a request without one parses nothing.
        own_refusal = request.path.startswith((API_PREFIX, FHIR_PREFIX))
        if ("%00" in raw or "\x00" in raw) and not own_refusal:
            fields = {
                key.replace("\x00", "\\x00"): [NUL_REFUSED]
                for key, values in request.GET.lists()
                if "\x00" in key or any("\x00" in value for value in values)
            }
            if fields:
                body = error_body(
                    "validation_error", "The request has invalid fields.", {"fields": fields}
                )
                return JsonResponse(body, status=400)
        return self.get_response(request)
