"""The FHIR R4 views: thin, as every API here. Each reads the registry's resource type,
calls one selector or service, renders with ``fhir.mapping``; every error is raised and
rendered once, as an OperationOutcome (``fhir.outcomes``). JSON only, always answered
as ``application/fhir+json``. Not in the OpenAPI document (``schema = None``): FHIR has
its own (``GET metadata``); docs/fhir.md describes the door."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role, User
from accounts.permissions import require_role
from core.errors import RoleNotAllowed
from core.idempotency import idempotent
from core.renderers import FastJSONRenderer
from core.requests import signed_in
from fhir import mapping
from fhir.bundles import searchset
from fhir.capability import capability_statement
from fhir.compiled import compiled_page
from fhir.errors import (
    FormatNotSupported,
    ResourceGone,
    ResourceNotFound,
    ResourceTypeNotSupported,
    UnsupportedChange,
)
from fhir.inputs import (
    BookingRequest,
    booking_request,
    cancellation_from_update,
    cancellation_reason,
)
from fhir.outcomes import fhir_exception_handler
from fhir.registry import APPOINTMENT, RESOURCE_TYPES, ResourceType
from fhir.search import (
    CURSOR,
    FORMAT,
    Page,
    count_from,
    criteria_from,
    page_of,
    reference_id,
)
from fhir.selectors import slot_clinician_and_times
from scheduling import selectors as scheduling_selectors
from scheduling import services as scheduling_services

JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})


class FhirJSONRenderer(FastJSONRenderer):
    media_type = "application/fhir+json"
    format = "json"


class FhirJSONParser(JSONParser):
    media_type = "application/fhir+json"


class JSONPatchParser(JSONParser):
    media_type = "application/json-patch+json"


class MergePatchParser(JSONParser):
    media_type = "application/merge-patch+json"


class FhirContentNegotiation(BaseContentNegotiation):
    """Bodies by their Content-Type (DRF's choice); answers always FHIR JSON, whatever the
    Accept header (a client asking for XML gets JSON, as FHIR allows a server to)."""

    def select_parser(self, request: Request, parsers: Any) -> BaseParser | None:
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type


class FhirApi(APIView):
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FhirJSONParser, JSONParser]
    content_negotiation_class = FhirContentNegotiation
    schema = None  # not in the OpenAPI document
    metadata_class = None  # OPTIONS: 405 (the capabilities are GET metadata)

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response | None]:
        return fhir_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        asked = request.query_params.get(FORMAT)
        if asked is not None and asked.split(";")[0].strip() not in JSON_FORMATS:
            raise FormatNotSupported()


def base_url(request: Request) -> str:
    """The absolute URL of the FHIR base (``…/fhir/R4``)."""
    return request.build_absolute_uri(reverse("fhir:metadata")).removesuffix("/metadata")


def resource_type_of(name: str) -> ResourceType:
    kind = RESOURCE_TYPES.get(name)
    if kind is None:
        raise ResourceTypeNotSupported(details={"resource_type": name[:64]})
    return kind


class MetadataApi(FhirApi):
    """The CapabilityStatement: public, as FHIR clients read it before signing in (it
    names no record)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(capability_statement(base_url(request)))


class UnknownPathApi(FhirApi):
    """Any other path under the FHIR base: 404 OperationOutcome, whatever the method."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        raise ResourceTypeNotSupported("This server has no such FHIR endpoint.")


class SearchApi(FhirApi):
    """``GET [base]/{type}``: a searchset Bundle of what the user may see."""

    def get(self, request: Request, resource_type: str) -> Response:
        kind = resource_type_of(resource_type)
        user, now, query = signed_in(request), timezone.now(), request.query_params
        prefer = request.headers.get("Prefer", "").replace(" ", "")
        criteria = criteria_from(query, kind.params, strict="handling=strict" in prefer, now=now)
        page, render = _search_page(kind, user, criteria.conditions, query)
        bundle = searchset(
            page=page,
            criteria=criteria,
            count=count_from(query),
            cursor=query.get(CURSOR),
            type_url=f"{base_url(request)}/{kind.name}",
            render=lambda record: render(record, now),
        )
        return Response(bundle)


def _search_page(
    kind: ResourceType, user: User, conditions: list[Q], query: QueryDict
) -> tuple[Page, Callable[[Any, datetime], dict[str, Any]]]:
    """The page, read through core.sql's compiled statements where the type has them
    (plain rows) or through the ORM (records), and how its rows render."""
    if kind.visible_list is not None and kind.render_row is not None:
        page = compiled_page(
            visible=kind.visible_list(user),
            searchable=kind.searchable,
            conditions=conditions,
            query=query,
            order=kind.order,
            columns=kind.row_columns,
        )
        if page is not None:
            return page, kind.render_row
    matches = kind.searchable(kind.visible(user)).filter(*conditions)
    return page_of(matches, query, kind.order), kind.render


class ReadApi(FhirApi):
    """``GET [base]/{type}/{id}``: one resource the user may see; else 404."""

    def get(self, request: Request, resource_type: str, resource_id: str) -> Response:
        kind = resource_type_of(resource_type)
        record = _visible_record(kind, signed_in(request), resource_id)
        if kind.gone(record):
            raise ResourceGone(details={"resource": f"{kind.name}/{record.pk}"})
        return Response(kind.render(record, timezone.now()))


def _visible_record(kind: ResourceType, user: User, resource_id: str) -> Any:
    pk = reference_id(resource_id, kind.name)
    record = kind.visible(user).filter(pk=pk).first() if pk is not None else None
    if record is None:
        raise ResourceNotFound(details={"resource": f"{kind.name}/{resource_id[:64]}"})
    return record


# --- Appointment: booking and cancelling -------------------------------------------------


class AppointmentsApi(SearchApi):
    """``POST [base]/Appointment`` books the referenced Slot for the Patient participant,
    through scheduling's booking service (its locks, policy, audit and events), with
    ``Idempotency-Key`` honoured as on ``POST /api/v1/appointments/`` (optional here)."""

    @idempotent(required=False)
    def post(self, request: Request, resource_type: str) -> Response:
        require_role(request.user, Role.PATIENT, Role.STAFF)
        booking = booking_request(request.data)
        user = signed_in(request)
        patient = _patient_to_book_for(user, booking.patient_id)
        _check_slot_matches(booking)
        appointment = scheduling_services.appointment_book(
            patient=patient, slot_id=booking.slot_id, reason=booking.reason, actor=user
        )
        location = f"{base_url(request)}/Appointment/{appointment.pk}"
        return Response(
            mapping.appointment_resource(appointment),
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


def _patient_to_book_for(user: User, patient_id: int) -> User:
    """As the REST booking: a patient books for themself, staff (the front desk) for the
    patient they name; anyone else naming another patient is refused."""
    if user.role == Role.STAFF:
        return scheduling_selectors.patient_for_booking(user=user, patient_id=patient_id)
    if patient_id != user.pk:
        raise RoleNotAllowed(
            "Only staff may book for another patient.", details={"allowed_roles": [Role.STAFF]}
        )
    return user


def _check_slot_matches(booking: BookingRequest) -> None:
    """A Practitioner participant, start or end in the body must be the Slot's own (an
    unknown slot is left to the booking's 404)."""
    if booking.practitioner_id is None and booking.start is None and booking.end is None:
        return
    found = slot_clinician_and_times(booking.slot_id)
    if found is None:
        return
    clinician_id, start, end = found
    wanted = (booking.practitioner_id, booking.start, booking.end)
    if any(value is not None and value != actual for value, actual in
           zip(wanted, (clinician_id, start, end), strict=True)):  # fmt: skip
        raise UnsupportedChange(
            "The Appointment's practitioner, start and end must be its Slot's.",
            details={"slot": booking.slot_id},
        )


class AppointmentApi(ReadApi):
    """``PATCH [base]/Appointment/{id}`` to status ``cancelled``, or ``PUT`` of the
    Appointment as read with its status ``cancelled``, cancels through scheduling's
    cancel service (the same cut-off, audit and event as the REST cancel)."""

    parser_classes = [FhirJSONParser, JSONParser, JSONPatchParser, MergePatchParser]

    @idempotent(required=False)
    def patch(self, request: Request, resource_type: str, resource_id: str) -> Response:
        user = signed_in(request)
        appointment_id = reference_id(resource_id, APPOINTMENT.name)
        if appointment_id is None:
            raise ResourceNotFound(details={"resource": f"Appointment/{resource_id[:64]}"})
        reason = cancellation_reason(request.data, appointment_id=appointment_id)
        scheduling_services.appointment_cancel(
            actor=user, appointment_id=appointment_id, reason=reason
        )
        cancelled = _visible_record(APPOINTMENT, user, resource_id)
        return Response(APPOINTMENT.render(cancelled, timezone.now()))

    @idempotent(required=False)
    def put(self, request: Request, resource_type: str, resource_id: str) -> Response:
        user = signed_in(request)
        appointment = _visible_record(APPOINTMENT, user, resource_id)
        current = APPOINTMENT.render(appointment, timezone.now())
        reason = cancellation_from_update(request.data, current=current)
        scheduling_services.appointment_cancel(
            actor=user, appointment_id=appointment.pk, reason=reason
        )
        cancelled = _visible_record(APPOINTMENT, user, resource_id)
        return Response(APPOINTMENT.render(cancelled, timezone.now()))
