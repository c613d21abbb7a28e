"""Scheduling API: availability and appointments. Thin views: parse, check the role,
call one service or selector, render. Errors are raised and rendered by ``core.errors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import CLINICIAN_ROLES, Role, User
from accounts.permissions import require_role
from core.errors import RoleNotAllowed
from core.idempotency import idempotent
from core.jobs import jobs_for_subject
from core.lists import CompiledListMixin
from core.pagination import DefaultPagination
from core.requests import signed_in, validated
from core.routers import ReplicaListMixin
from core.serializers import JobOutput
from core.sql import ListQuery
from scheduling import selectors, services
from scheduling.filters import AppointmentFilter, SlotFilter
from scheduling.models import Appointment, Slot
from scheduling.serializers import (
    AppointmentBookInput,
    AppointmentCancelInput,
    AppointmentOutput,
    AppointmentRescheduleInput,
    AppointmentUpdateInput,
    AvailabilityCreateInput,
    AvailabilityCreateOutput,
    RuleCreateInput,
    RuleCreateOutput,
    SeriesBookInput,
    SeriesCancelInput,
    SeriesOutput,
    SlotOutput,
    appointment_rows_output,
    slot_rows_output,
)

ERRORS = {
    400: OpenApiResponse(description="Malformed or invalid input (error envelope)."),
    403: OpenApiResponse(description="Your role may not do this (`role_not_allowed`)."),
    404: OpenApiResponse(description="Not found, or not yours to see."),
    409: OpenApiResponse(description="Conflicts with the current state; see `error.code`."),
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per booking attempt; a retry with the same key and body is replayed.",
)
OPTIONAL_IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Optional: makes a retried request safe.",
)


def _path_id(name: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT64, OpenApiParameter.PATH)


APPOINTMENT_ID, SLOT_ID = _path_id("appointment_id"), _path_id("slot_id")
PATIENT_ID, CLINICIAN_ID = _path_id("patient_id"), _path_id("clinician_id")


def _appointment_response(appointment: Appointment, *, user: User, code: int = 200) -> Response:
    # Re-read through the access helper so the body has every relation, without N+1.
    fresh = selectors.appointment_get_for(user=user, appointment_id=appointment.pk)
    return Response(AppointmentOutput(fresh, context={"viewer": user}).data, status=code)


# --- availability ----------------------------------------------------------------------


class AvailabilityApi(ReplicaListMixin, CompiledListMixin, generics.ListAPIView[Slot]):
    """``GET`` lists slots (open ones, and all of your own); ``POST`` publishes new ones."""

    serializer_class = SlotOutput
    filterset_class = SlotFilter
    queryset = Slot.objects.none()  # the schema's model; list() reads list_query
    columns = selectors.SLOT_ROW_COLUMNS

    def list_query(self, filters: dict[str, Any]) -> ListQuery:
        return selectors.slot_list_query(user=signed_in(self.request), filters=filters)

    def page_output(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        return slot_rows_output(rows)

    @extend_schema(
        operation_id="availability_list",
        description="Patients see open slots; clinicians also all of their own; staff all.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="availability_create",
        request=AvailabilityCreateInput,
        responses={201: AvailabilityCreateOutput, **ERRORS},
        description="Clinicians publish `[start, end)` as one slot, or split into "
        "`slot_minutes` pieces, each with `capacity` seats (1-50, default 1; more than one "
        "is a group session). Any overlap with your live slots is a 409 `slot_overlap`.",
    )
    def post(self, request: Request) -> Response:
        require_role(request.user, *CLINICIAN_ROLES)
        data = validated(AvailabilityCreateInput, request.data)
        slots = services.slot_create(clinician=signed_in(request), **data)
        return Response(
            AvailabilityCreateOutput({"slots": slots}).data, status=status.HTTP_201_CREATED
        )


class AvailabilityRuleCreateApi(APIView):
    @extend_schema(
        operation_id="availability_rule_create",
        request=RuleCreateInput,
        responses={201: RuleCreateOutput, **ERRORS},
        description="A weekly rule in local wall-clock time, expanded into slots up to the "
        "rule horizon. Clashes with existing slots are reported in `conflicts`, not fatal.",
    )
    def post(self, request: Request) -> Response:
        require_role(request.user, *CLINICIAN_ROLES)
        data = validated(RuleCreateInput, request.data)
        rule, expansion = services.rule_create(clinician=signed_in(request), **data)
        body = {
            "rule": rule,
            "created": expansion.created,
            "already_present": expansion.already_present,
            "conflicts": expansion.conflicts,
            "skipped_nonexistent": expansion.skipped_nonexistent,
        }
        return Response(RuleCreateOutput(body).data, status=status.HTTP_201_CREATED)


class SlotWithdrawApi(APIView):
    @extend_schema(
        operation_id="availability_withdraw",
        parameters=[SLOT_ID],
        responses={204: None, **ERRORS},
        description="Withdraw one of your slots. A booked slot is a 409 `slot_booked`.",
    )
    def delete(self, request: Request, slot_id: int) -> Response:
        require_role(request.user, *CLINICIAN_ROLES, Role.STAFF)
        services.slot_withdraw(actor=signed_in(request), slot_id=slot_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- appointments ----------------------------------------------------------------------


class AppointmentListMixin(CompiledListMixin):
    """An appointment list read as plain rows (``selectors.APPOINTMENT_ROW_COLUMNS``) and
    rendered by ``appointment_rows_output``: the same body as AppointmentOutput."""

    columns = selectors.APPOINTMENT_ROW_COLUMNS

    def page_output(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        view: Any = self
        return appointment_rows_output(rows, viewer=signed_in(view.request))


class AppointmentsApi(ReplicaListMixin, AppointmentListMixin, generics.ListAPIView[Appointment]):
    """``GET`` lists the appointments you may see; ``POST`` books one (patients)."""

    serializer_class = AppointmentOutput
    filterset_class = AppointmentFilter
    queryset = Appointment.objects.none()  # the schema's model; list() reads list_query

    def list_query(self, filters: dict[str, Any]) -> ListQuery:
        return selectors.appointment_list_query(user=signed_in(self.request), filters=filters)

    @extend_schema(
        operation_id="appointments_list",
        description="Patients see their own, clinicians theirs, staff all.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="appointments_book",
        parameters=[IDEMPOTENCY_KEY],
        request=AppointmentBookInput,
        responses={
            201: AppointmentOutput,
            **ERRORS,
            422: OpenApiResponse(description="The Idempotency-Key was used with another body."),
        },
        description="Book a seat of an open slot. A one-seat slot taken → 409 "
        "`slot_unavailable`; a group slot with every seat taken → 409 `slot_full`; a clash "
        "with the patient's other appointments (a seat of this slot included) → 409 "
        "`patient_overlap`. Patients book for themselves; staff (the front desk) send "
        "`patient` to book for that patient (without it, 403 `role_not_allowed`; an unknown "
        "patient is a 404 `patient_not_found`). Anyone else naming another patient → 403 "
        "`role_not_allowed`.",
    )
    @idempotent(required=True)
    def post(self, request: Request) -> Response:
        require_role(request.user, Role.PATIENT, Role.STAFF)
        data = validated(AppointmentBookInput, request.data)
        user = signed_in(request)
        patient = _patient_to_book_for(user, data.get("patient"))
        appointment = services.appointment_book(
            patient=patient, slot_id=data["slot"], reason=data["reason"], actor=user
        )
        # The service returns the new row with its slot and both people loaded: no re-read.
        body = AppointmentOutput(appointment, context={"viewer": user}).data
        return Response(body, status=status.HTTP_201_CREATED)


def _patient_to_book_for(user: User, patient_id: int | None) -> User:
    """The booking's patient: the caller, or (staff only) the patient they name."""
    if user.role == Role.STAFF:
        if patient_id is None:  # staff hold no appointments of their own
            raise RoleNotAllowed(
                "Staff book for a patient: send `patient`.",
                details={"allowed_roles": [Role.PATIENT]},
            )
        return selectors.patient_for_booking(user=user, patient_id=patient_id)
    if patient_id is not None and patient_id != user.pk:
        raise RoleNotAllowed(
            "Only staff may book for another patient.", details={"allowed_roles": [Role.STAFF]}
        )
    return user


class AppointmentDetailApi(APIView):
    @extend_schema(
        operation_id="appointments_retrieve",
        parameters=[APPOINTMENT_ID],
        responses={200: AppointmentOutput, 404: ERRORS[404]},
    )
    def get(self, request: Request, appointment_id: int) -> Response:
        user = signed_in(request)
        appointment = selectors.appointment_get_for(user=user, appointment_id=appointment_id)
        return Response(AppointmentOutput(appointment, context={"viewer": user}).data)

    @extend_schema(
        operation_id="appointments_update",
        parameters=[APPOINTMENT_ID],
        request=AppointmentUpdateInput,
        responses={200: AppointmentOutput, **ERRORS},
        description="Patients may change `reason`; clinicians `notes`; staff both.",
    )
    def patch(self, request: Request, appointment_id: int) -> Response:
        data = validated(AppointmentUpdateInput, request.data)
        user = signed_in(request)
        appointment = services.appointment_update(actor=user, appointment_id=appointment_id, **data)
        return _appointment_response(appointment, user=user)

    @extend_schema(
        operation_id="appointments_destroy",
        parameters=[APPOINTMENT_ID],
        responses={200: AppointmentOutput, **ERRORS},
        description="The same as `POST …/cancel/` without a reason.",
    )
    def delete(self, request: Request, appointment_id: int) -> Response:
        user = signed_in(request)
        appointment = services.appointment_cancel(actor=user, appointment_id=appointment_id)
        return _appointment_response(appointment, user=user)


class AppointmentCancelApi(APIView):
    @extend_schema(
        operation_id="appointments_cancel",
        parameters=[APPOINTMENT_ID, OPTIONAL_IDEMPOTENCY_KEY],
        request=AppointmentCancelInput,
        responses={200: AppointmentOutput, **ERRORS},
        description="Patients up to the cut-off before the start (409 "
        "`change_cutoff_passed`), clinicians and staff any time. The slot reopens.",
    )
    @idempotent(required=False)
    def post(self, request: Request, appointment_id: int) -> Response:
        data = validated(AppointmentCancelInput, request.data)
        user = signed_in(request)
        appointment = services.appointment_cancel(
            actor=user, appointment_id=appointment_id, reason=data["reason"]
        )
        return _appointment_response(appointment, user=user)


class AppointmentRescheduleApi(APIView):
    @extend_schema(
        operation_id="appointments_reschedule",
        parameters=[APPOINTMENT_ID, OPTIONAL_IDEMPOTENCY_KEY],
        request=AppointmentRescheduleInput,
        responses={200: AppointmentOutput, **ERRORS},
        description="Move to another open slot of the same clinician in one transaction, "
        "with the booking checks; the old slot reopens and is kept as `previous_slot`.",
    )
    @idempotent(required=False)
    def post(self, request: Request, appointment_id: int) -> Response:
        data = validated(AppointmentRescheduleInput, request.data)
        user = signed_in(request)
        appointment = services.appointment_reschedule(
            actor=user, appointment_id=appointment_id, new_slot_id=data["slot"]
        )
        return _appointment_response(appointment, user=user)


class AppointmentConfirmApi(APIView):
    @extend_schema(
        operation_id="appointments_confirm",
        parameters=[APPOINTMENT_ID],
        request=None,
        responses={200: AppointmentOutput, **ERRORS},
        description="The clinician (or staff) confirms a scheduled appointment.",
    )
    def post(self, request: Request, appointment_id: int) -> Response:
        require_role(request.user, *CLINICIAN_ROLES, Role.STAFF)
        user = signed_in(request)
        appointment = services.appointment_confirm(actor=user, appointment_id=appointment_id)
        return _appointment_response(appointment, user=user)


class PatientAppointmentsApi(
    ReplicaListMixin, AppointmentListMixin, generics.ListAPIView[Appointment]
):
    serializer_class = AppointmentOutput
    filterset_class = AppointmentFilter
    queryset = Appointment.objects.none()  # the schema's model; list() reads list_query

    def list_query(self, filters: dict[str, Any]) -> ListQuery:
        return selectors.patient_appointment_list_query(
            user=signed_in(self.request), patient_id=self.kwargs["patient_id"], filters=filters
        )

    @extend_schema(
        operation_id="patient_appointments_list",
        parameters=[PATIENT_ID],
        description="A patient's appointments that you may see; an unseen patient is a 404.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ClinicianAppointmentsApi(
    ReplicaListMixin, AppointmentListMixin, generics.ListAPIView[Appointment]
):
    serializer_class = AppointmentOutput
    filterset_class = AppointmentFilter
    queryset = Appointment.objects.none()  # the schema's model; list() reads list_query

    def list_query(self, filters: dict[str, Any]) -> ListQuery:
        return selectors.clinician_appointment_list_query(
            user=signed_in(self.request), clinician_id=self.kwargs["clinician_id"], filters=filters
        )

    @extend_schema(
        operation_id="clinician_appointments_list",
        parameters=[CLINICIAN_ID],
        description="A clinician's appointments that you may see (patients: their own with "
        "that clinician; other clinicians: 404).",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AppointmentTasksApi(APIView):
    """The background job records an appointment started (booking confirmation, …)."""

    @extend_schema(
        operation_id="appointment_tasks_list",
        responses={200: JobOutput(many=True), 404: ERRORS[404]},
    )
    def get(self, request: Request, appointment_id: int) -> Response:
        # Visibility first: an appointment the user may not see is a 404.
        appointment = selectors.appointment_get_for(
            user=signed_in(request), appointment_id=appointment_id
        )
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(
            jobs_for_subject(subject=appointment), request, view=self
        )
        return paginator.get_paginated_response(JobOutput(page, many=True).data)


# --- recurring series ------------------------------------------------------------------


SERIES_ID = _path_id("series_id")


def _series_response(series_id: int, *, user: User, code: int = 200) -> Response:
    # Re-read through the access selector: the body lists every occurrence, loaded at once.
    series = selectors.series_get_for(user=user, series_id=series_id)
    return Response(SeriesOutput(series, context={"viewer": user}).data, status=code)


class AppointmentSeriesApi(APIView):
    """``GET`` lists the series you may see; ``POST`` books one (patients, or staff for a
    patient, as ``POST appointments/``)."""

    @extend_schema(
        operation_id="appointment_series_list",
        responses={200: SeriesOutput(many=True)},
        description="Patients see their own series, clinicians theirs, staff all; newest "
        "first, each with its occurrences.",
    )
    def get(self, request: Request) -> Response:
        user = signed_in(request)
        paginator = DefaultPagination()
        page = paginator.paginate_queryset(selectors.series_list(user=user), request, view=self)
        body = SeriesOutput(page, many=True, context={"viewer": user}).data
        return paginator.get_paginated_response(body)

    @extend_schema(
        operation_id="appointment_series_book",
        parameters=[IDEMPOTENCY_KEY],
        request=SeriesBookInput,
        responses={
            201: SeriesOutput,
            **ERRORS,
            422: OpenApiResponse(description="The Idempotency-Key was used with another body."),
        },
        description="Book `count` occurrences of the slot's local wall-clock start (the "
        "clinician's time zone) every `interval` weeks, in one transaction. "
        "`on_conflict=fail`: any unbookable occurrence → 409 `series_conflict` with every "
        "conflict in `details.conflicts` ({index, start, code}), nothing booked. `skip`: "
        "the others are booked, the unbookable ones listed in `skipped`. Staff (the front "
        "desk) send `patient` to book for that patient, as on `POST appointments/`.",
    )
    @idempotent(required=True)
    def post(self, request: Request) -> Response:
        require_role(request.user, Role.PATIENT, Role.STAFF)
        data = validated(SeriesBookInput, request.data)
        user = signed_in(request)
        booked = services.series_book(
            patient=_patient_to_book_for(user, data.get("patient")),
            actor=user,
            slot_id=data["slot"],
            count=data["count"],
            interval_weeks=data["interval"],
            reason=data["reason"],
            on_conflict=data["on_conflict"],
        )
        return _series_response(booked.series.pk, user=user, code=status.HTTP_201_CREATED)


class AppointmentSeriesDetailApi(APIView):
    @extend_schema(
        operation_id="appointment_series_retrieve",
        parameters=[SERIES_ID],
        responses={200: SeriesOutput, 404: ERRORS[404]},
    )
    def get(self, request: Request, series_id: int) -> Response:
        return _series_response(series_id, user=signed_in(request))


class AppointmentSeriesCancelApi(APIView):
    @extend_schema(
        operation_id="appointment_series_cancel",
        parameters=[SERIES_ID, OPTIONAL_IDEMPOTENCY_KEY],
        request=SeriesCancelInput,
        responses={200: SeriesOutput, **ERRORS},
        description="Cancel the occurrence `from` (an appointment of the series) and every "
        "later one, or all when `from` is absent; each slot's seat is freed. One refusal "
        "(a patient past the cut-off: 409 `change_cutoff_passed`) cancels nothing; nothing "
        "left to cancel is 409 `series_not_active`.",
    )
    @idempotent(required=False)
    def post(self, request: Request, series_id: int) -> Response:
        data = validated(SeriesCancelInput, request.data)
        user = signed_in(request)
        services.series_cancel(
            actor=user,
            series_id=series_id,
            from_appointment_id=data.get("from"),
            reason=data["reason"],
        )
        return _series_response(series_id, user=user)
