"""Notifications API: the signed-in user's own notification preferences."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from core.fields import StrictBooleanField, StrictCharField, reject_unknown_fields
from notifications.models import NotificationPreference
from notifications.selectors import notification_preference_of
from notifications.services import notification_preference_update

WALL_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class WallClockField(StrictCharField):
    """``"HH:MM"`` on a 24 h clock, 00:00-23:59; anything else is a 400."""

    def to_internal_value(self, data: Any) -> time:  # type: ignore[override]
        text = super().to_internal_value(data)
        if not WALL_CLOCK.match(text):
            raise serializers.ValidationError('Expected a time "HH:MM" (00:00-23:59).')
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))

    def to_representation(self, value: Any) -> str:
        return f"{value:%H:%M}"


class QuietHoursSerializer(serializers.Serializer):
    start = WallClockField(help_text="Local wall-clock time the quiet hours begin, HH:MM.")
    end = WallClockField(
        help_text="Local wall-clock time they end, HH:MM; before start crosses midnight."
    )

    def to_internal_value(self, data: Any) -> Any:
        reject_unknown_fields(self, data)
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["start"] == attrs["end"]:
            raise serializers.ValidationError({"end": ["Must differ from start."]})
        return attrs


class PreferencesInputSerializer(serializers.Serializer):
    email = StrictBooleanField(required=False)
    quiet_hours = QuietHoursSerializer(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> Any:
        reject_unknown_fields(self, data)
        return super().to_internal_value(data)


class PreferencesOutputSerializer(serializers.Serializer):
    email = serializers.BooleanField()
    quiet_hours = QuietHoursSerializer(allow_null=True)


def _render(preference: NotificationPreference) -> dict[str, Any]:
    quiet = (
        {"start": preference.quiet_start, "end": preference.quiet_end}
        if preference.has_quiet_hours
        else None
    )
    return PreferencesOutputSerializer({"email": preference.email, "quiet_hours": quiet}).data


def _errors(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(description=f"{text} (error envelope)")
        for code, text in described.items()
    }


class NotificationPreferencesApi(APIView):
    """Quiet hours are in the user's own zone (``time_zone`` of ``me/``)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="me_notification_preferences_retrieve",
        responses={200: PreferencesOutputSerializer, **_errors({401: "No valid access token."})},
    )
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)  # noqa: S101 - guaranteed by IsAuthenticated
        return Response(_render(notification_preference_of(user)))

    @extend_schema(
        operation_id="me_notification_preferences_partial_update",
        request=PreferencesInputSerializer,
        responses={
            200: PreferencesOutputSerializer,
            **_errors(
                {
                    400: "Malformed JSON, wrong types, unknown fields, a time that is not "
                    "HH:MM, or start == end; see `error.details.fields`.",
                    401: "No valid access token.",
                }
            ),
        },
    )
    def patch(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)  # noqa: S101 - guaranteed by IsAuthenticated
        serializer = PreferencesInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preference = notification_preference_update(user=user, data=dict(serializer.validated_data))
        return Response(_render(preference))
