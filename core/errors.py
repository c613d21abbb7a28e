"""One domain error type and one place that turns errors into the JSON envelope.

Services raise ``DomainError`` subclasses with a stable ``code``; the DRF exception
handler below renders every 4xx/5xx as
``{"error": {"code", "message", "details", "request_id"}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.request_context import current_request_id

logger = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "invalid"
    message = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        super().__init__(self.message)


class InvalidRequest(DomainError):
    status = 400
    code = "invalid"


class NotAllowed(DomainError):
    status = 403
    code = "permission_denied"
    message = "You do not have permission to perform this action."


class RoleNotAllowed(NotAllowed):
    """The signed-in user's role may not do this; ``details`` name the allowed roles."""

    code = "role_not_allowed"
    message = "Your role may not perform this action."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Unprocessable(DomainError):
    status = 422
    code = "unprocessable"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "request_id": current_request_id(),
        }
    }


_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "authentication_failed",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
    drf.ValidationError: "validation_error",
}


def _drf_code(exc: drf.APIException) -> str:
    for cls in type(exc).__mro__:
        if cls in _DRF_CODES:
            return _DRF_CODES[cls]
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else "error"


def _drf_message_and_details(exc: drf.APIException) -> tuple[str, dict[str, Any]]:
    detail = exc.detail
    if isinstance(exc, drf.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return "The request has invalid fields.", {"fields": fields}
    if isinstance(detail, dict):
        return "The request was refused.", dict(detail)
    if isinstance(detail, list):
        return "; ".join(str(item) for item in detail), {}
    return str(detail), {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: every error leaves in the envelope."""
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, DataError | OverflowError):
        # A client value the database cannot hold (an id beyond bigint on a filter, ...)
        # reached a query unvalidated: answer 400, not 500. The warning with its traceback
        # keeps the missing validation visible so the view can be fixed.
        logger.warning("Out-of-range value reached the database", exc_info=exc)
        return Response(
            error_body("value_out_of_range", "A value in the request is out of range."),
            status=400,
        )
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf.APIException):
        return response
    message, details = _drf_message_and_details(exc)
    wait = getattr(exc, "wait", None)
    if isinstance(exc, drf.Throttled) and wait is not None:
        details["retry_after_seconds"] = int(wait)
    response.data = error_body(_drf_code(exc), message, details)
    return response


def json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def axes_lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """django-axes lockout, in the envelope for the API and the admin alike."""
    return json_error(429, "account_locked", "Too many failed logins. Try again later.")


# Django-level handlers (urls.py) so that non-DRF paths also answer in the envelope.
def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(400, "bad_request", "The request could not be understood.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(403, "permission_denied", "Permission denied.")


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(404, "not_found", "Not found.")


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error(500, "server_error", "Internal server error.")
