"""Consultation and prescription API. One class per operation; thin: parse, call, render."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import (
    IsRecordReader,
    IsRecordWriter,
)
from consultations import selectors, services
from consultations.lifecycle import clinician_role_check
from consultations.models import Consultation, Prescription
from consultations.pdf import prescription_pdf
from consultations.serializers import (
    AddendumInputSerializer,
    AddendumOutputSerializer,
    ConsultationListQuerySerializer,
    ConsultationNotesInputSerializer,
    ConsultationOutputSerializer,
    ConsultationStatusInputSerializer,
    PrescriptionCancelInputSerializer,
    PrescriptionInputSerializer,
    PrescriptionListQuerySerializer,
    PrescriptionOutputSerializer,
)
from core.pagination import DefaultPagination
from core.read_audit import Read, ReadSurface, audit_read
from core.requests import query, signed_in, validated


def audit_consultation_reads(user: User, consultations: list[Consultation]) -> None:
    audit_read(
        actor=user,
        surface=ReadSurface.API,
        reads=[Read("consultation.read", c, c.appointment.patient_id) for c in consultations],
    )


def audit_prescription_reads(
    user: User, prescriptions: list[Prescription], surface: ReadSurface = ReadSurface.API
) -> None:
    audit_read(
        actor=user,
        surface=surface,
        reads=[
            Read("prescription.read", p, selectors.prescription_patient_id(p))
            for p in prescriptions
        ],
    )


# --- consultations ----------------------------------------------------------------------


class ConsultationListApi(APIView):
    permission_classes = [IsRecordReader]

    @extend_schema(
        operation_id="consultations_list",
        parameters=[ConsultationListQuerySerializer],
        responses={200: ConsultationOutputSerializer(many=True)},
        description="Consultations of your own (patient) or of your patients (clinician). "
        "Notes are null unless you are the clinician or they are shared with you.",
    )
    def get(self, request: Request) -> Response:
        user = signed_in(request)
        params = query(ConsultationListQuerySerializer, request)
        queryset = selectors.consultations_list(
            user=user, status=params.get("status"), patient_id=params.get("patient")
        )
        paginator = DefaultPagination()
        page = list(paginator.paginate_queryset(queryset, request, view=self) or [])
        audit_consultation_reads(user, page)
        data = ConsultationOutputSerializer(page, many=True, context={"user": user}).data  # type: ignore[arg-type]
        return paginator.get_paginated_response(data)


class ConsultationDetailApi(APIView):
    permission_classes = [IsRecordReader]

    @extend_schema(operation_id="consultations_retrieve", responses=ConsultationOutputSerializer)
    def get(self, request: Request, consultation_id: int) -> Response:
        user = signed_in(request)
        consultation = selectors.consultation_get_for(user=user, consultation_id=consultation_id)
        audit_consultation_reads(user, [consultation])
        return Response(ConsultationOutputSerializer(consultation, context={"user": user}).data)

    @extend_schema(
        operation_id="consultations_notes_update",
        request=ConsultationNotesInputSerializer,
        responses=ConsultationOutputSerializer,
        description="The clinician's notes. Refused (409) once completed: add an addendum.",
    )
    def patch(self, request: Request, consultation_id: int) -> Response:
        user = signed_in(request)
        clinician_role_check(user)  # the role before the body: patients get 403
        data = validated(ConsultationNotesInputSerializer, request.data)
        services.consultation_notes_update(actor=user, consultation_id=consultation_id, **data)
        return self._render(user, consultation_id)

    def _render(self, user: User, consultation_id: int) -> Response:
        consultation = selectors.consultation_get_for(user=user, consultation_id=consultation_id)
        return Response(ConsultationOutputSerializer(consultation, context={"user": user}).data)


class ConsultationStatusApi(APIView):
    permission_classes = [IsRecordWriter]

    @extend_schema(
        operation_id="consultations_status_update",
        request=ConsultationStatusInputSerializer,
        responses=ConsultationOutputSerializer,
        description="Move along the lifecycle table; a move it does not allow is a 409 "
        "`invalid_transition` whose details name the allowed statuses.",
    )
    def patch(self, request: Request, consultation_id: int) -> Response:
        user = signed_in(request)
        data = validated(ConsultationStatusInputSerializer, request.data)
        services.consultation_status_change(actor=user, consultation_id=consultation_id, **data)
        consultation = selectors.consultation_get_for(user=user, consultation_id=consultation_id)
        return Response(ConsultationOutputSerializer(consultation, context={"user": user}).data)


class ConsultationAddendumCreateApi(APIView):
    permission_classes = [IsRecordWriter]

    @extend_schema(
        operation_id="consultations_addenda_create",
        request=AddendumInputSerializer,
        responses={201: AddendumOutputSerializer},
    )
    def post(self, request: Request, consultation_id: int) -> Response:
        user = signed_in(request)
        data = validated(AddendumInputSerializer, request.data)
        addendum = services.consultation_addendum_add(
            actor=user, consultation_id=consultation_id, **data
        )
        return Response(AddendumOutputSerializer(addendum).data, status=status.HTTP_201_CREATED)


# --- prescriptions ----------------------------------------------------------------------


class PrescriptionListCreateApi(APIView):
    permission_classes = [IsRecordReader]

    @extend_schema(
        operation_id="prescriptions_list",
        parameters=[PrescriptionListQuerySerializer],
        responses={200: PrescriptionOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        user = signed_in(request)
        params = query(PrescriptionListQuerySerializer, request)
        queryset = selectors.prescriptions_list(
            user=user, patient_id=params.get("patient"), status=params.get("status")
        )
        paginator = DefaultPagination()
        page = list(paginator.paginate_queryset(queryset, request, view=self) or [])
        audit_prescription_reads(user, page)
        return paginator.get_paginated_response(PrescriptionOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="prescriptions_create",
        request=PrescriptionInputSerializer,
        responses={201: PrescriptionOutputSerializer},
        description="Doctors only (psychologists and staff: 403), on their own completed "
        "consultation (someone else's: 404; not completed: 409).",
    )
    def post(self, request: Request) -> Response:
        user = signed_in(request)
        # The role is checked before the body so a psychologist learns nothing about ids.
        services.prescription_role_check(actor=user)
        data = validated(PrescriptionInputSerializer, request.data)
        consultation_id = data.pop("consultation")
        prescription = services.prescription_create(
            actor=user, consultation_id=consultation_id, **data
        )
        prescription = selectors.prescription_get_for(user=user, prescription_id=prescription.pk)
        return Response(
            PrescriptionOutputSerializer(prescription).data, status=status.HTTP_201_CREATED
        )


class PrescriptionDetailApi(APIView):
    """Read only: an issued prescription is never edited (PATCH/PUT/DELETE are 405)."""

    permission_classes = [IsRecordReader]

    @extend_schema(operation_id="prescriptions_retrieve", responses=PrescriptionOutputSerializer)
    def get(self, request: Request, prescription_id: int) -> Response:
        user = signed_in(request)
        prescription = selectors.prescription_get_for(user=user, prescription_id=prescription_id)
        audit_prescription_reads(user, [prescription])
        return Response(PrescriptionOutputSerializer(prescription).data)


class PrescriptionCancelApi(APIView):
    permission_classes = [IsRecordWriter]

    @extend_schema(
        operation_id="prescriptions_cancel",
        request=PrescriptionCancelInputSerializer,
        responses=PrescriptionOutputSerializer,
    )
    def post(self, request: Request, prescription_id: int) -> Response:
        user = signed_in(request)
        data = validated(PrescriptionCancelInputSerializer, request.data)
        services.prescription_cancel(actor=user, prescription_id=prescription_id, **data)
        prescription = selectors.prescription_get_for(user=user, prescription_id=prescription_id)
        return Response(PrescriptionOutputSerializer(prescription).data)


class PrescriptionPdfApi(APIView):
    permission_classes = [IsRecordReader]

    @extend_schema(
        operation_id="prescriptions_pdf",
        responses={(200, "application/pdf"): OpenApiResponse(description="The prescription.")},
    )
    def get(self, request: Request, prescription_id: int) -> HttpResponse:
        user = signed_in(request)
        with transaction.atomic():
            prescription = selectors.prescription_get_for(
                user=user, prescription_id=prescription_id
            )
            audit_prescription_reads(user, [prescription], ReadSurface.PRESCRIPTION_PDF)
        response = HttpResponse(prescription_pdf(prescription), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="prescription-{prescription.pk}.pdf"'
        return response
