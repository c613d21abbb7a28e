"""Test-only URLconf: tiny DRF views that exercise core/ without any domain app.

Used with ``@pytest.mark.urls("tests.core.urls")``. The Django-level error handlers
are the project's own, so non-DRF failures answer in the envelope here too.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError
from django.http import Http404
from django.urls import path
from rest_framework import exceptions as drf
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Hospital
from core.errors import Conflict, DomainError, InvalidRequest, NotAllowed, NotFound, Unprocessable
from core.idempotency import idempotent

RAISED: dict[str, Any] = {
    "parse": lambda: drf.ParseError(),
    "authentication_failed": lambda: drf.AuthenticationFailed(),
    "not_authenticated": lambda: drf.NotAuthenticated(),
    "drf_permission_denied": lambda: drf.PermissionDenied(),
    "drf_not_found": lambda: drf.NotFound(),
    "method_not_allowed": lambda: drf.MethodNotAllowed("PUT"),
    "not_acceptable": lambda: drf.NotAcceptable(),
    "unsupported_media_type": lambda: drf.UnsupportedMediaType("text/plain"),
    "throttled": lambda: drf.Throttled(wait=42),
    "validation_dict": lambda: drf.ValidationError({"name": ["This field is required."]}),
    "validation_list": lambda: drf.ValidationError(["Start must be before end."]),
    "api_exception": lambda: drf.APIException(),
    "http404": lambda: Http404("no such thing"),
    "django_permission_denied": lambda: DjangoPermissionDenied(),
    "domain_invalid": lambda: InvalidRequest("Bad dates.", details={"field": "start"}),
    "domain_not_allowed": lambda: NotAllowed(),
    "domain_not_found": lambda: NotFound(),
    "domain_conflict": lambda: Conflict("Slot taken.", code="slot_unavailable"),
    "domain_unprocessable": lambda: Unprocessable("Cannot do that."),
    "domain_base": lambda: DomainError(),
    "data_error": lambda: DataError("integer out of range"),
    "overflow": lambda: OverflowError("Python int too large to convert to SQLite INTEGER"),
    "unexpected": lambda: RuntimeError("a bug"),
}


class RaiseView(APIView):
    permission_classes: list[Any] = []  # anonymous callers reach the raise

    def get(self, request: Request, kind: str) -> Response:
        raise RAISED[kind]()


class HospitalInput(serializers.Serializer):
    code = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=200)


def _create_hospital(request: Request) -> Response:
    if getattr(settings, "CAREBOOK_TEST_OUTAGE", False):
        raise drf.APIException("Upstream unavailable.")  # a 500 answer
    if getattr(settings, "CAREBOOK_TEST_CRASH", False):
        raise RuntimeError("unexpected failure")  # an unhandled exception
    if getattr(settings, "CAREBOOK_TEST_ABORT", False):
        # What gunicorn does to a worker past its timeout (SIGABRT → sys.exit): the
        # request dies mid-way, past every ``except Exception``.
        raise SystemExit(1)
    data = HospitalInput(data=request.data)
    data.is_valid(raise_exception=True)
    # Widen the in-flight window so concurrent duplicates meet an in-progress key.
    time.sleep(getattr(settings, "CAREBOOK_TEST_HANDLER_DELAY", 0))
    hospital = Hospital.objects.create(**data.validated_data)
    return Response(
        {"id": hospital.pk, "code": hospital.code, "name": hospital.name},
        status=status.HTTP_201_CREATED,
    )


class CreateHospitalView(APIView):
    @idempotent(required=True)
    def post(self, request: Request) -> Response:
        return _create_hospital(request)


class OtherCreateHospitalView(APIView):
    """A second endpoint: keys are scoped per endpoint."""

    @idempotent(required=True)
    def post(self, request: Request) -> Response:
        return _create_hospital(request)


class OptionalKeyView(APIView):
    @idempotent(required=False)
    def post(self, request: Request) -> Response:
        return _create_hospital(request)


class ItemActionView(APIView):
    """An action on one resource: the same key on another resource is another request."""

    @idempotent(required=True)
    def post(self, request: Request, pk: int) -> Response:
        hospital = Hospital.objects.get(pk=pk)
        hospital.name = f"{hospital.name} (renamed)"
        hospital.save(update_fields=["name"])
        return Response({"id": hospital.pk, "name": hospital.name})


class UploadView(APIView):
    parser_classes = [MultiPartParser]

    @idempotent(required=True)
    def post(self, request: Request) -> Response:
        upload = request.FILES["file"]
        hospital = Hospital.objects.create(code=request.data["code"], name=upload.name)
        return Response({"id": hospital.pk, "size": upload.size}, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("raise/<str:kind>/", RaiseView.as_view()),
    path("hospitals/", CreateHospitalView.as_view()),
    path("other-hospitals/", OtherCreateHospitalView.as_view()),
    path("optional-hospitals/", OptionalKeyView.as_view()),
    path("hospitals/<int:pk>/rename/", ItemActionView.as_view()),
    path("uploads/", UploadView.as_view()),
]

handler400 = "core.errors.handler400"
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
