"""Waitlist API: entries and offers. Thin views: parse, call one service or selector,
render. Errors are raised and rendered by ``core.errors``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role, User
from accounts.permissions import require_role
from core.errors import RoleNotAllowed
from core.fields import IdField, StrictChoiceField, StrictInput, StrictIntegerField
from core.idempotency import idempotent
from core.requests import query, signed_in, validated
from core.serialization import api_datetime
from scheduling.models import Mode
from scheduling.selectors import patient_for_booking
from scheduling.serializers import AppointmentOutput, person_dict
from waitlist import selectors, services
from waitlist.errors import ClinicianNotFound
from waitlist.models import WaitlistEntry, WaitlistOffer

ERRORS = {
    400: OpenApiResponse(description="Malformed or invalid input (error envelope)."),
    403: OpenApiResponse(description="Your role may not do this (`role_not_allowed`)."),
    404: OpenApiResponse(description="Not found, or not yours to see."),
    409: OpenApiResponse(description="Conflicts with the current state; see `error.code`."),
}
GONE = {410: OpenApiResponse(description="The offer expired (`offer_expired`).")}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Optional: a retry with the same key is replayed.",
)
ENTRY_ID = OpenApiParameter("entry_id", OpenApiTypes.INT64, OpenApiParameter.PATH)
OFFER_ID = OpenApiParameter("offer_id", OpenApiTypes.INT64, OpenApiParameter.PATH)


# --- shapes ------------------------------------------------------------------------------


class WaitlistJoinInput(StrictInput):
    clinician = IdField()
    not_before = serializers.DateField(required=False, allow_null=True, default=None)
    not_after = serializers.DateField(required=False, allow_null=True, default=None)
    weekdays = serializers.ListField(
        child=StrictIntegerField(min_value=0, max_value=6),
        required=False,
        max_length=7,
        default=list,
        help_text="ISO weekdays the patient can come, Monday 0 .. Sunday 6; empty: any.",
    )
    mode = StrictChoiceField(
        choices=[("", "any"), *Mode.choices], required=False, default="", allow_blank=True
    )
    patient = IdField(
        required=False, help_text="Staff only: the patient to add. Others leave it out."
    )


class EntryQueryInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=WaitlistEntry.Status.choices, required=False)


class OfferQueryInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=WaitlistOffer.Status.choices, required=False)


class EntryOutput(serializers.ModelSerializer[WaitlistEntry]):
    class Meta:
        model = WaitlistEntry
        fields = [
            "id", "patient", "clinician", "not_before", "not_after", "weekdays", "mode",
            "priority", "status", "created_at", "ended_at", "appointment",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance: WaitlistEntry) -> dict[str, Any]:
        zone = timezone.get_current_timezone()
        return {
            "id": instance.pk,
            "patient": person_dict(instance.patient),
            "clinician": person_dict(instance.clinician),
            "not_before": instance.not_before.isoformat() if instance.not_before else None,
            "not_after": instance.not_after.isoformat() if instance.not_after else None,
            "weekdays": list(instance.weekdays),
            "mode": instance.mode,
            "priority": instance.priority,
            "status": instance.status,
            "created_at": api_datetime(instance.created_at, zone),
            "ended_at": api_datetime(instance.ended_at, zone),
            "appointment": instance.appointment_id,
        }


class OfferOutput(serializers.ModelSerializer[WaitlistOffer]):
    start = serializers.DateTimeField(source="slot.start")
    end = serializers.DateTimeField(source="slot.end")

    class Meta:
        model = WaitlistOffer
        fields = [
            "id", "entry", "slot", "start", "end", "expires_at", "status", "patient",
            "clinician", "appointment", "created_at", "responded_at",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance: WaitlistOffer) -> dict[str, Any]:
        zone = timezone.get_current_timezone()
        return {
            "id": instance.pk,
            "entry": instance.entry_id,
            "slot": instance.slot_id,
            "start": api_datetime(instance.slot.start, zone),
            "end": api_datetime(instance.slot.end, zone),
            "expires_at": api_datetime(instance.expires_at, zone),
            # past its deadline an unanswered offer reads as expired, even before the sweep
            "status": selectors.offer_status_at(instance),
            "patient": instance.patient_id,
            "clinician": instance.clinician_id,
            "appointment": instance.appointment_id,
            "created_at": api_datetime(instance.created_at, zone),
            "responded_at": api_datetime(instance.responded_at, zone),
        }


def _entry_response(entry: WaitlistEntry, code: int = 200) -> Response:
    fresh = WaitlistEntry.objects.select_related("patient", "clinician").get(pk=entry.pk)
    return Response(EntryOutput(fresh).data, status=code)


# --- entries -----------------------------------------------------------------------------


class WaitlistApi(generics.ListAPIView[WaitlistEntry]):
    """``GET`` the entries you may see; ``POST`` joins a clinician's waitlist."""

    serializer_class = EntryOutput
    queryset = WaitlistEntry.objects.none()  # the schema's model; get_queryset reads

    def get_queryset(self) -> QuerySet[WaitlistEntry]:
        filters = query(EntryQueryInput, self.request)
        entries = selectors.entries_list(user=signed_in(self.request), status=filters.get("status"))
        return entries.select_related("patient", "clinician")

    @extend_schema(
        operation_id="waitlist_list",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=WaitlistEntry.Status.values)],
        description="Patients see their own entries, clinicians those waiting for them, "
        "staff all; in offer order per clinician (priority, then joined first).",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="waitlist_join",
        request=WaitlistJoinInput,
        responses={201: EntryOutput, **ERRORS},
        description="Wait for an earlier visit with `clinician`, optionally only between "
        "`not_before` and `not_after` (dates on your own clock), on some `weekdays` "
        "(Monday 0 .. Sunday 6) or in one `mode`. A second active entry for the same "
        "clinician → 409 `waitlist_duplicate`. Staff send `patient` to add one.",
    )
    def post(self, request: Request) -> Response:
        require_role(request.user, Role.PATIENT, Role.STAFF)
        data = validated(WaitlistJoinInput, request.data)
        user = signed_in(request)
        entry = services.entry_join(
            patient=_patient_for(user, data.get("patient")),
            clinician=_clinician(data["clinician"]),
            actor=user,
            not_before=data["not_before"],
            not_after=data["not_after"],
            weekdays=data["weekdays"],
            mode=data["mode"],
        )
        return _entry_response(entry, code=status.HTTP_201_CREATED)


def _patient_for(user: User, patient_id: int | None) -> User:
    """The entry's patient: the caller, or (staff only) the patient they name."""
    if user.role == Role.STAFF:
        if patient_id is None:
            raise RoleNotAllowed(
                "Staff add a patient: send `patient`.", details={"allowed_roles": [Role.PATIENT]}
            )
        return patient_for_booking(user=user, patient_id=patient_id)
    if patient_id is not None and patient_id != user.pk:
        raise RoleNotAllowed(
            "Only staff may add another patient.", details={"allowed_roles": [Role.STAFF]}
        )
    return user


def _clinician(clinician_id: int) -> User:
    clinician = User.objects.filter(pk=clinician_id).first()
    if clinician is None:
        raise ClinicianNotFound(details={"clinician": clinician_id})
    return clinician


class WaitlistEntryApi(APIView):
    @extend_schema(
        operation_id="waitlist_retrieve",
        parameters=[ENTRY_ID],
        responses={200: EntryOutput, 404: ERRORS[404]},
    )
    def get(self, request: Request, entry_id: int) -> Response:
        entry = selectors.entry_get_for(user=signed_in(request), entry_id=entry_id)
        return _entry_response(entry)

    @extend_schema(
        operation_id="waitlist_leave",
        parameters=[ENTRY_ID],
        responses={200: EntryOutput, **ERRORS},
        description="Leave the waitlist (the patient) or remove an entry (staff). A live "
        "offer of the entry is withdrawn and its slot passes on. A fulfilled entry → 409 "
        "`waitlist_entry_not_active`.",
    )
    def delete(self, request: Request, entry_id: int) -> Response:
        entry = services.entry_remove(entry_id=entry_id, actor=signed_in(request))
        return _entry_response(entry)


# --- offers ------------------------------------------------------------------------------


class OffersApi(generics.ListAPIView[WaitlistOffer]):
    serializer_class = OfferOutput
    queryset = WaitlistOffer.objects.none()  # the schema's model; get_queryset reads

    def get_queryset(self) -> QuerySet[WaitlistOffer]:
        filters = query(OfferQueryInput, self.request)
        return selectors.offers_list(user=signed_in(self.request), status=filters.get("status"))

    @extend_schema(
        operation_id="waitlist_offers_list",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=WaitlistOffer.Status.values)],
        description="Your offers (patients), offers of your slots (clinicians), all (staff); "
        "newest first. An unanswered offer past `expires_at` reads `expired`.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class OfferDetailApi(APIView):
    @extend_schema(
        operation_id="waitlist_offers_retrieve",
        parameters=[OFFER_ID],
        responses={200: OfferOutput, 404: ERRORS[404]},
        description="One offer. Read past its deadline, it expires and its slot passes on.",
    )
    def get(self, request: Request, offer_id: int) -> Response:
        offer = services.offer_touch(offer_id=offer_id, user=signed_in(request))
        return Response(OfferOutput(offer).data)


class OfferAcceptApi(APIView):
    @extend_schema(
        operation_id="waitlist_offers_accept",
        parameters=[OFFER_ID, IDEMPOTENCY_KEY],
        request=None,
        responses={201: AppointmentOutput, **ERRORS, **GONE},
        description="Book the offered slot (the offered patient, or staff for them): 201 "
        "with the appointment, as `POST appointments/`. Again: the same appointment. After "
        "the deadline → 410 `offer_expired`; a declined offer → 409 `offer_not_open`.",
    )
    @idempotent(required=False)
    def post(self, request: Request, offer_id: int) -> Response:
        _no_body(request)
        user = signed_in(request)
        appointment = services.offer_accept(offer_id=offer_id, actor=user)
        body = AppointmentOutput(appointment, context={"viewer": user}).data
        return Response(body, status=status.HTTP_201_CREATED)


class OfferDeclineApi(APIView):
    @extend_schema(
        operation_id="waitlist_offers_decline",
        parameters=[OFFER_ID, IDEMPOTENCY_KEY],
        request=None,
        responses={200: OfferOutput, **ERRORS, **GONE},
        description="Let the slot go: it is offered to the next waiting patient at once. "
        "Again: the same answer. After the deadline → 410 `offer_expired`; an accepted "
        "offer → 409 `offer_not_open`.",
    )
    @idempotent(required=False)
    def post(self, request: Request, offer_id: int) -> Response:
        _no_body(request)
        user = signed_in(request)
        offer = services.offer_decline(offer_id=offer_id, actor=user)
        return Response(OfferOutput(selectors.offer_get_for(user=user, offer_id=offer.pk)).data)


class _EmptyInput(StrictInput):
    pass


def _no_body(request: Request) -> None:
    """These take no fields: an empty body or ``{}``; anything else is a 400."""
    validated(_EmptyInput, request.data)
