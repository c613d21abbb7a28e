"""Lab result API: record (clinicians) and list (patients: own; clinicians: their patients')."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsRecordReader
from core.fields import IdField, StrictCharField, StrictChoiceField
from core.pagination import DefaultPagination
from core.read_audit import Read, ReadSurface, audit_read
from core.requests import query, signed_in, validated
from labs import selectors, services
from labs.flags import Ranges
from labs.models import LabResult

MAX_DIGITS = 14
DECIMAL_PLACES = 4
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _strict_decimal(value: Any, field: serializers.Field[Any, Any, Any, Any]) -> Decimal:
    """A JSON number or decimal string within the column's precision, else a 400."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise serializers.ValidationError("Enter a number.")
    if isinstance(value, str) and not _DECIMAL.match(value.strip()):
        raise serializers.ValidationError("Enter a number.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise serializers.ValidationError("Enter a number.") from None
    if not number.is_finite():
        raise serializers.ValidationError("Enter a finite number.")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # noqa: S101 - finite numbers have an int exponent
    if -exponent > DECIMAL_PLACES:
        raise serializers.ValidationError(f"Use at most {DECIMAL_PLACES} decimal places.")
    if abs(number) >= Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES):
        raise serializers.ValidationError("The number is too large.")
    return number


@extend_schema_field(OpenApiTypes.NUMBER)
class NumberField(serializers.Field):
    def to_internal_value(self, data: Any) -> Decimal:
        return _strict_decimal(data, self)

    def to_representation(self, value: Any) -> str:
        return str(value)


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string"}]})
class LabValueField(serializers.Field):
    """A number (flagged) or a text such as "positive" or "<0.1" (never flagged).

    A string holding a plain decimal ("5.2") is taken as that number.
    """

    def to_internal_value(self, data: Any) -> Decimal | str:
        if isinstance(data, str):
            text = data.strip()
            if not text:
                raise serializers.ValidationError("Enter a value.")
            if not _DECIMAL.match(text):
                if len(text) > 200:
                    raise serializers.ValidationError("Use at most 200 characters.")
                return text
        return _strict_decimal(data, self)

    def to_representation(self, value: Any) -> Any:
        return value


class ReferenceRangeSerializer(serializers.Serializer[Any]):
    low = NumberField(required=False, allow_null=True)
    high = NumberField(required=False, allow_null=True)
    critical_low = NumberField(required=False, allow_null=True)
    critical_high = NumberField(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class LabResultInputSerializer(serializers.Serializer[Any]):
    patient = IdField()
    consultation = IdField(required=False, allow_null=True)
    test_code = StrictCharField(max_length=32)
    test_name = StrictCharField(max_length=200)
    value = LabValueField()
    unit = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
    reference_range = ReferenceRangeSerializer(required=False, allow_null=True)
    collected_at = serializers.DateTimeField()
    reported_at = serializers.DateTimeField(required=False)
    status = StrictChoiceField(
        choices=[LabResult.Status.PRELIMINARY, LabResult.Status.FINAL, LabResult.Status.CORRECTED],
        required=False,
        default=LabResult.Status.FINAL,
    )
    supersedes = IdField(required=False, allow_null=True)


class LabResultOutputSerializer(serializers.ModelSerializer[LabResult]):
    value = serializers.SerializerMethodField(method_name="value_of")
    reference_range = serializers.SerializerMethodField()
    superseded_by = serializers.SerializerMethodField()

    class Meta:
        model = LabResult
        fields = [
            "id",
            "patient",
            "ordering_clinician",
            "consultation",
            "test_code",
            "test_name",
            "value",
            "unit",
            "reference_range",
            "flag",
            "status",
            "collected_at",
            "reported_at",
            "supersedes",
            "superseded_by",
            "created_at",
        ]

    @extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string"}]})
    def value_of(self, result: LabResult) -> Any:
        return result.value_text if result.value_numeric is None else str(result.value_numeric)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_reference_range(self, result: LabResult) -> dict[str, str | None]:
        bounds = {
            "low": result.reference_low,
            "high": result.reference_high,
            "critical_low": result.critical_low,
            "critical_high": result.critical_high,
        }
        return {name: None if value is None else str(value) for name, value in bounds.items()}

    def get_superseded_by(self, result: LabResult) -> int | None:
        correction = getattr(result, "superseded_by", None)
        return correction.pk if correction is not None else None


class LabResultListQuerySerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField(required=False, min_value=1)
    test_code = serializers.CharField(required=False, max_length=32)
    flag = serializers.ChoiceField(choices=LabResult.Flag.choices, required=False)
    current = serializers.BooleanField(
        required=False, default=False, help_text="Only results no correction has superseded."
    )


def _audit_reads(user: Any, results: list[LabResult]) -> None:
    audit_read(
        actor=user,
        surface=ReadSurface.API,
        reads=[Read("lab_result.read", r, r.patient_id) for r in results],
    )


class LabResultListCreateApi(APIView):
    permission_classes = [IsRecordReader]

    @extend_schema(
        operation_id="lab_results_list",
        parameters=[LabResultListQuerySerializer],
        responses={200: LabResultOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        user = signed_in(request)
        params = query(LabResultListQuerySerializer, request)
        queryset = selectors.lab_results_list(
            user=user,
            patient_id=params.get("patient"),
            test_code=params.get("test_code"),
            flag=params.get("flag"),
            include_superseded=not params.get("current", False),
        )
        paginator = DefaultPagination()
        page = list(paginator.paginate_queryset(queryset, request, view=self) or [])
        _audit_reads(user, page)
        return paginator.get_paginated_response(LabResultOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="lab_results_create",
        request=LabResultInputSerializer,
        responses={201: LabResultOutputSerializer},
        description="Clinicians of the patient. The flag is computed from the value and "
        "the ranges (sending one is a 400). `supersedes` records a correction.",
    )
    def post(self, request: Request) -> Response:
        user = signed_in(request)
        services.lab_result_role_check(actor=user)
        data = validated(LabResultInputSerializer, request.data)
        value = data["value"]
        bounds = data.get("reference_range") or {}
        result = services.lab_result_record(
            actor=user,
            patient_id=data["patient"],
            consultation_id=data.get("consultation"),
            test_code=data["test_code"],
            test_name=data["test_name"],
            value_numeric=value if isinstance(value, Decimal) else None,
            value_text=value if isinstance(value, str) else "",
            unit=data["unit"],
            ranges=Ranges(
                reference_low=bounds.get("low"),
                reference_high=bounds.get("high"),
                critical_low=bounds.get("critical_low"),
                critical_high=bounds.get("critical_high"),
            ),
            collected_at=data["collected_at"],
            reported_at=data.get("reported_at") or timezone.now(),
            status=data["status"],
            supersedes_id=data.get("supersedes"),
        )
        return Response(LabResultOutputSerializer(result).data, status=status.HTTP_201_CREATED)


class LabResultDetailApi(APIView):
    permission_classes = [IsRecordReader]

    @extend_schema(operation_id="lab_results_retrieve", responses=LabResultOutputSerializer)
    def get(self, request: Request, lab_result_id: int) -> Response:
        user = signed_in(request)
        result = selectors.lab_result_get_for(user=user, lab_result_id=lab_result_id)
        _audit_reads(user, [result])
        return Response(LabResultOutputSerializer(result).data)
