"""Accounts API: auth, users and the clinician/hospital directory. One class per operation.

Views parse, check the role, call one service or selector and render. Errors are
raised (DomainError or DRF exceptions) and rendered by ``core.errors``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import selectors, services
from accounts.authentication import CREDENTIALS_VERSION_CLAIM, token_credentials_version
from accounts.filters import ClinicianFilter, HospitalFilter
from accounts.models import Hospital, User
from accounts.permissions import IsStaffRole
from accounts.serializers import (
    ClinicianOutputSerializer,
    HospitalOutputSerializer,
    LogoutInputSerializer,
    MeUpdateInputSerializer,
    RegisterInputSerializer,
    TokenPairOutputSerializer,
    UserCreateInputSerializer,
    UserOutputSerializer,
    clinician_profile_for_service,
)
from core.errors import DomainError, InvalidRequest
from core.routers import ReplicaListMixin

# The auth endpoints share one throttle scope; its rate is settings DEFAULT_THROTTLE_RATES.
AUTH_THROTTLE_SCOPE = "auth"


def _errors(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """Error responses for the schema; every one is the ``core.errors`` envelope."""
    return {
        status_code: OpenApiResponse(description=f"{text} (error envelope)")
        for status_code, text in described.items()
    }


BAD_INPUT = "Malformed JSON, wrong types or invalid fields; see `error.details.fields`."
NOT_SIGNED_IN = "No valid access token."
THROTTLED = "Too many auth requests (`throttled`, `retry_after_seconds`)."


class AccountLocked(DomainError):
    status = 429
    code = "account_locked"
    message = "Too many failed logins. Try again later."


def _signed_in_user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - guaranteed by IsAuthenticated
    return user


# --- auth ----------------------------------------------------------------------------


class RegisterApi(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = AUTH_THROTTLE_SCOPE
    authentication_classes: list[Any] = []  # a stale token in the header must not block sign-up
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_register",
        request=RegisterInputSerializer,
        responses={
            201: UserOutputSerializer,
            **_errors({400: BAD_INPUT, 409: "`email_taken`", 429: THROTTLED}),
        },
        description="Self-registration. Always creates a patient; any other role is a 400. "
        "An email already registered (in any letter case) is a 409 `email_taken`.",
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        data.pop("role", None)
        user = services.patient_register(**data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class EmailTokenObtainSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user: Any) -> Any:
        token = super().get_token(user)
        # Its access tokens copy the claim: a later revocation refuses both.
        token[CREDENTIALS_VERSION_CLAIM] = user.credentials_version
        return token

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        # Emails are stored lower-case: log in (and count axes failures) case-insensitively.
        attrs[self.username_field] = services.normalize_email(attrs[self.username_field])
        data = super().validate(attrs)
        # Issuing tokens is a login: tell receivers (django-axes resets the failure count,
        # AXES_RESET_ON_SUCCESS) as django.contrib.auth.login() would.
        user_logged_in.send(sender=type(self.user), request=self.context["request"], user=self.user)
        return data


class TokenObtainApi(TokenObtainPairView):
    """``{email, password}`` → ``{access, refresh}``; django-axes locks an account that fails
    too often (429 ``account_locked``)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = AUTH_THROTTLE_SCOPE

    serializer_class = EmailTokenObtainSerializer

    @extend_schema(
        responses={
            200: TokenPairOutputSerializer,
            **_errors(
                {
                    400: BAD_INPUT,
                    401: "Wrong email or password, or inactive account (`authentication_failed`).",
                    429: "`account_locked` after AXES_FAILURE_LIMIT failures, or `throttled`.",
                }
            ),
        }
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            # simplejwt passes this request to authenticate(); axes flags it when locked.
            if getattr(request, "axes_locked_out", False):
                raise AccountLocked() from None
            raise


class RotatingTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's rotation, made single-use under concurrency, and refusing a token whose
    user's credentials changed since it was issued.

    simplejwt checks the blacklist, then blacklists with get_or_create: two requests with
    one token both pass the check and both get a new pair. Here the token's outstanding
    row is locked first (``FOR UPDATE``) and the blacklist is read again under the lock,
    so the second request waits for the first to commit, then finds the token used.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = RefreshToken(attrs["refresh"])  # signature, expiry, blacklist (unlocked)
        with transaction.atomic():
            pk = _claim_pk(refresh)
            user = User.objects.filter(pk=pk).first() if pk is not None else None
            if user is None:
                raise InvalidToken("The account of this token no longer exists.")
            services.refresh_token_lock(refresh, user=user)
            if token_credentials_version(refresh) != user.credentials_version:
                raise InvalidToken("This token was revoked. Sign in again.")
            return super().validate(attrs)  # checks the blacklist again, under the lock


def _claim_pk(token: RefreshToken) -> int | None:
    try:
        return int(token.payload.get(jwt_settings.USER_ID_CLAIM))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class TokenRefreshApi(TokenRefreshView):
    """Rotating refresh: the refresh token sent is blacklisted, a reused one is a 401."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = AUTH_THROTTLE_SCOPE
    serializer_class = RotatingTokenRefreshSerializer

    @extend_schema(
        responses={
            200: TokenPairOutputSerializer,
            **_errors(
                {
                    400: BAD_INPUT,
                    401: "Invalid, expired or already used refresh token "
                    "(`authentication_failed`).",
                    429: THROTTLED,
                }
            ),
        }
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except User.DoesNotExist:
            # simplejwt looks the user up with .get(): a deleted account's token is just invalid.
            raise InvalidToken("The account of this token no longer exists.") from None


class LogoutApi(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = AUTH_THROTTLE_SCOPE
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_logout",
        request=LogoutInputSerializer,
        responses={
            204: OpenApiResponse(description="The refresh token is blacklisted."),
            **_errors(
                {400: "`invalid_token`, or malformed input", 401: NOT_SIGNED_IN, 429: THROTTLED}
            ),
        },
        description="Blacklists the caller's own refresh token. A token that is malformed, "
        "expired, already revoked or belongs to someone else is a 400 `invalid_token`.",
    )
    def post(self, request: Request) -> Response:
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = _signed_in_user(request)
        invalid = InvalidRequest(
            "This is not a valid refresh token of yours.",
            code="invalid_token",
            details={"fields": {"refresh": ["Not a valid refresh token of yours."]}},
        )
        try:
            token = RefreshToken(serializer.validated_data["refresh"])
        except TokenError:
            raise invalid from None
        if str(token.payload.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk):
            raise invalid
        token.blacklist()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="me_retrieve",
        responses={200: UserOutputSerializer, **_errors({401: NOT_SIGNED_IN})},
    )
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(_signed_in_user(request)).data)

    @extend_schema(
        operation_id="me_partial_update",
        request=MeUpdateInputSerializer,
        responses={200: UserOutputSerializer, **_errors({400: BAD_INPUT, 401: NOT_SIGNED_IN})},
    )
    def patch(self, request: Request) -> Response:
        serializer = MeUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update_self(
            user=_signed_in_user(request), data=dict(serializer.validated_data)
        )
        return Response(UserOutputSerializer(user).data)


# --- users ---------------------------------------------------------------------------


class UserCreateApi(APIView):
    permission_classes = [IsStaffRole]

    @extend_schema(
        operation_id="users_create",
        request=UserCreateInputSerializer,
        responses={
            201: UserOutputSerializer,
            **_errors(
                {
                    400: BAD_INPUT,
                    401: NOT_SIGNED_IN,
                    403: "Not staff (`permission_denied`).",
                    409: "`email_taken`",
                }
            ),
        },
        description="Staff only. Any role; doctors and psychologists get the inline "
        "`clinician_profile`. An email already registered is a 409 `email_taken`.",
    )
    def post(self, request: Request) -> Response:
        serializer = UserCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["clinician_profile"] = clinician_profile_for_service(data.get("clinician_profile"))
        user = services.user_create(actor=_signed_in_user(request), **data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="users_retrieve",
        responses={
            200: UserOutputSerializer,
            **_errors({401: NOT_SIGNED_IN, 404: "No such user, or not yours to see."}),
        },
    )
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get_for(viewer=_signed_in_user(request), user_id=user_id)
        return Response(UserOutputSerializer(user).data)


# --- directory -----------------------------------------------------------------------
# The directory needs a signed-in user: registration is open, so patients lose nothing,
# while anonymous scraping of clinicians' names and workplaces is not offered.


class ClinicianListApi(ReplicaListMixin, generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = ClinicianOutputSerializer
    filterset_class = ClinicianFilter

    def get_queryset(self) -> QuerySet[User]:
        return selectors.clinicians_list()


class HospitalListApi(ReplicaListMixin, generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = HospitalOutputSerializer
    filterset_class = HospitalFilter

    def get_queryset(self) -> QuerySet[Hospital]:
        return selectors.hospitals_list()


class HospitalDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="hospitals_retrieve",
        responses={
            200: HospitalOutputSerializer,
            **_errors({401: NOT_SIGNED_IN, 404: "No such hospital."}),
        },
    )
    def get(self, request: Request, hospital_id: int) -> Response:
        hospital = selectors.hospital_get(hospital_id=hospital_id)
        return Response(HospitalOutputSerializer(hospital).data)
