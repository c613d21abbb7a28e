"""Every FHIR test reads answers through these helpers: each body is checked against the
``fhir.resources`` R4B models (unknown elements, wrong types and missing required
elements fail) and the codes the models leave free against their R4 value sets."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fhir.resources.R4B import get_fhir_model_class  # type: ignore[import-not-found, unused-ignore]

FHIR_JSON = "application/fhir+json"
BASE = "/fhir/R4"

# The R4 value sets of the codes Carebook writes (the models take any code).
CODES = {
    ("Slot", "status"): {"free", "busy", "busy-tentative", "busy-unavailable", "entered-in-error"},
    ("Appointment", "status"): {
        "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
        "entered-in-error", "checked-in", "waitlist",
    },
    ("Bundle", "type"): {"searchset"},
}  # fmt: skip
ISSUE_CODES = {
    "invalid", "structure", "required", "value", "login", "forbidden", "not-found",
    "not-supported", "conflict", "deleted", "business-rule", "processing", "throttled",
    "too-costly", "exception",
}  # fmt: skip


def validated(body: Any) -> Any:
    """``body`` if it is a valid R4B resource (its resourceType's model), else fail."""
    assert isinstance(body, dict), body
    assert "resourceType" in body, body
    model = get_fhir_model_class(body["resourceType"])
    model.model_validate(body)
    _check_codes(body)
    return body


def _check_codes(resource: dict[str, Any]) -> None:
    kind = resource["resourceType"]
    for (of, element), allowed in CODES.items():
        if of == kind and element in resource:
            assert resource[element] in allowed, (kind, element, resource[element])
    for issue in resource.get("issue", []):
        assert issue["code"] in ISSUE_CODES, issue
    for entry in resource.get("entry", []):
        _check_codes(entry["resource"])


def answer(response: Any) -> dict[str, Any]:
    """The validated body of a FHIR answer (always FHIR JSON, errors included)."""
    assert response["Content-Type"].startswith(FHIR_JSON), response["Content-Type"]
    return validated(json.loads(response.content))


def fhir_get(client: Any, path: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    response = client.get(path if path.startswith("/") else f"{BASE}/{path}", **extra)
    return response.status_code, answer(response)


def fhir_send(
    client: Any,
    method: str,
    path: str,
    body: Any,
    *,
    content_type: str = FHIR_JSON,
    key: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """(response, validated body) of a POST or PATCH of ``body`` (JSON, or raw text)."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    response = getattr(client, method)(
        f"{BASE}/{path}", data=data, content_type=content_type, **headers
    )
    return response, answer(response)


def ids(bundle: dict[str, Any], resource_type: str | None = None) -> list[int]:
    """The ids of the matches of a searchset Bundle, in order."""
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset"), bundle
    return [
        int(entry["resource"]["id"])
        for entry in bundle.get("entry", [])
        if entry["search"]["mode"] == "match"
        and (resource_type is None or entry["resource"]["resourceType"] == resource_type)
    ]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((item["url"] for item in bundle["link"] if item["relation"] == relation), None)


def local(url: str) -> str:
    """An absolute link of the server as a path with its query, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def outcome_code(body: dict[str, Any]) -> tuple[str, str | None]:
    """(issue code, Carebook's error code) of an OperationOutcome's first issue."""
    assert body["resourceType"] == "OperationOutcome", body
    issue = body["issue"][0]
    coding = issue.get("details", {}).get("coding", [])
    return issue["code"], coding[0]["code"] if coding else None
