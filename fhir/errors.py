"""The FHIR door's own refusals (``core.errors.DomainError``), and the FHIR issue code
each HTTP status is reported with in an OperationOutcome (``fhir.outcomes``)."""

from __future__ import annotations

from enum import StrEnum

from core.errors import DomainError, InvalidRequest, NotFound, Unprocessable


class FhirErrorCode(StrEnum):
    RESOURCE_TYPE_NOT_SUPPORTED = "resource_type_not_supported"
    RESOURCE_NOT_FOUND = "resource_not_found"
    RESOURCE_GONE = "resource_gone"
    INVALID_SEARCH = "invalid_search_parameter"
    INVALID_RESOURCE = "invalid_resource"
    UNSUPPORTED_CHANGE = "unsupported_change"
    NOT_ACCEPTABLE_FORMAT = "format_not_supported"


class ResourceTypeNotSupported(NotFound):
    code = FhirErrorCode.RESOURCE_TYPE_NOT_SUPPORTED
    message = "This server does not support that resource type."


class ResourceNotFound(NotFound):
    code = FhirErrorCode.RESOURCE_NOT_FOUND
    message = "Resource not found."


class ResourceGone(DomainError):
    """A withdrawn slot: it existed, and is deleted for every purpose of booking."""

    status = 410
    code = FhirErrorCode.RESOURCE_GONE
    message = "The resource was withdrawn."


class InvalidSearch(InvalidRequest):
    code = FhirErrorCode.INVALID_SEARCH
    message = "A search parameter is invalid."


class InvalidResource(InvalidRequest):
    """The body is not a resource this interaction accepts (wrong JSON shape or types)."""

    code = FhirErrorCode.INVALID_RESOURCE
    message = "The resource in the body is invalid."


class UnsupportedChange(Unprocessable):
    """A well-formed resource or patch asking for something this server does not do."""

    code = FhirErrorCode.UNSUPPORTED_CHANGE
    message = "This server does not support that change."


class FormatNotSupported(DomainError):
    status = 406
    code = FhirErrorCode.NOT_ACCEPTABLE_FORMAT
    message = "Only JSON (application/fhir+json) is served."


# The OperationOutcome.issue.code of each HTTP status (FHIR R4 "issue-type").
ISSUE_CODE_OF_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    413: "too-costly",
    415: "not-supported",
    422: "business-rule",
    429: "throttled",
}
