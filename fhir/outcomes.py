"""Every FHIR error is an OperationOutcome. Errors are raised as everywhere else
(``core.errors.DomainError``, DRF's exceptions) and rendered once here: the project's
handler decides the status and the stable Carebook code, and this turns its envelope
into an OperationOutcome with the same status and headers."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.response import Response

from core.errors import api_exception_handler
from core.request_context import current_request_id
from fhir.errors import ISSUE_CODE_OF_STATUS

# The code system of Carebook's stable error codes (``slot_unavailable``, ...).
CAREBOOK_ERROR_SYSTEM = "urn:carebook:error-code"


def outcome_issue(
    *, severity: str, code: str, text: str, carebook_code: str = "", diagnostics: str = ""
) -> dict[str, Any]:
    details: dict[str, Any] = {"text": text}
    if carebook_code:
        details["coding"] = [{"system": CAREBOOK_ERROR_SYSTEM, "code": carebook_code}]
    issue: dict[str, Any] = {"severity": severity, "code": code, "details": details}
    if diagnostics:
        issue["diagnostics"] = diagnostics
    return issue


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def error_outcome(status: int, envelope: dict[str, Any]) -> dict[str, Any]:
    """The OperationOutcome of one error envelope (``core.errors.error_body``)."""
    error = envelope.get("error", {})
    extra = {"request_id": error.get("request_id") or current_request_id()}
    if error.get("details"):
        extra["details"] = error["details"]
    issue = outcome_issue(
        severity="error",
        code=ISSUE_CODE_OF_STATUS.get(status, "exception" if status >= 500 else "processing"),
        text=str(error.get("message") or "The request failed."),
        carebook_code=str(error.get("code") or ""),
        diagnostics=json.dumps(extra, sort_keys=True, default=str),
    )
    return operation_outcome(issue)


def fhir_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler of the FHIR views: the project's answer, as an
    OperationOutcome (its status and headers kept: WWW-Authenticate, Allow, ...)."""
    response = api_exception_handler(exc, context)
    if response is None:
        return None
    response.data = error_outcome(response.status_code, response.data or {})
    return response
