"""The CapabilityStatement, built from the registry the views dispatch from."""

from __future__ import annotations

from typing import Any

from fhir.registry import RESOURCE_TYPES, ResourceType

FHIR_VERSION = "4.0.1"
# When this statement's content last changed (CapabilityStatement.date is required).
STATEMENT_DATE = "2026-12-07"
PATCH_FORMATS = ["application/json-patch+json", "application/merge-patch+json"]
SECURITY = (
    "Send the access token of POST /api/v1/auth/token/ as 'Authorization: Bearer <token>'. "
    "Every read answers only what the REST API shows the same user; another person's "
    "record is 404. This statement is public."
)


def _resource(kind: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": kind.name,
        "interaction": [{"code": code} for code in kind.interactions],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": [
            {"name": param.name, "type": param.type, "documentation": param.documentation}
            for param in kind.params
        ],
    }
    return entry


def capability_statement(base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": "Carebook",
        "kind": "instance",
        "software": {"name": "Carebook"},
        "implementation": {"description": "Carebook scheduling", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": PATCH_FORMATS,
        "rest": [
            {
                "mode": "server",
                "security": {"cors": False, "description": SECURITY},
                "resource": [_resource(kind) for kind in RESOURCE_TYPES.values()],
            }
        ],
    }
