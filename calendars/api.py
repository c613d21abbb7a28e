"""``me/calendar-feed/``: the signed-in patient's or clinician's private calendar feed.

``POST`` makes a new secret URL (the first, or a rotation: the old URL then answers 404)
and shows it once; ``GET`` says whether a feed exists and what it shows (never the URL:
only its hash is kept); ``PATCH`` turns names and reasons on or off; ``DELETE`` revokes.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import has_active_role
from calendars.errors import CalendarFeedNotFound
from calendars.models import CalendarFeed
from calendars.selectors import calendar_feed_of
from calendars.services import (
    FEED_ROLES,
    calendar_feed_issue,
    calendar_feed_revoke,
    calendar_feed_update,
)
from core.fields import StrictBooleanField
from core.requests import signed_in, validated


class HasFeedRole(BasePermission):
    """Patients and clinicians (their own appointments); staff have none: 403."""

    message = "Calendar feeds are for patients and clinicians."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_active_role(request.user, *FEED_ROLES)


class IssueInput(serializers.Serializer):
    include_details = StrictBooleanField(
        required=False,
        help_text="Patient names and reasons in a clinician's feed (your own reason in a "
        "patient's). Default off; left out, a rotation keeps the current setting.",
    )


class UpdateInput(serializers.Serializer):
    include_details = StrictBooleanField()


class FeedOutput(serializers.Serializer):
    include_details = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True)


class IssuedFeedOutput(FeedOutput):
    url = serializers.URLField(help_text="The feed's secret URL, shown this once.")


def _errors(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(description=f"{text} (error envelope)")
        for code, text in described.items()
    }


NO_FEED = "`calendar_feed_not_found`: you have no feed."
AUTH_ERRORS = {401: "No valid access token.", 403: "`permission_denied`: staff have no feed."}
BODY_ERRORS = {400: "Malformed JSON, wrong types or unknown fields."}


def _feed(feed: CalendarFeed) -> dict[str, Any]:
    return dict(FeedOutput(feed).data)


class CalendarFeedApi(APIView):
    permission_classes = [HasFeedRole]

    @extend_schema(
        operation_id="me_calendar_feed_retrieve",
        responses={200: FeedOutput, **_errors({**AUTH_ERRORS, 404: NO_FEED})},
    )
    def get(self, request: Request) -> Response:
        feed = calendar_feed_of(_owner(request))
        if feed is None:
            raise CalendarFeedNotFound()
        return Response(_feed(feed))

    @extend_schema(
        operation_id="me_calendar_feed_create",
        request=IssueInput,
        responses={201: IssuedFeedOutput, **_errors({**BODY_ERRORS, **AUTH_ERRORS})},
    )
    def post(self, request: Request) -> Response:
        data = validated(IssueInput, request.data)
        issued = calendar_feed_issue(
            owner=_owner(request), include_details=data.get("include_details")
        )
        path = reverse("calendar-feed", kwargs={"token": issued.token})
        body = {"url": request.build_absolute_uri(path), **_feed(issued.feed)}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="me_calendar_feed_partial_update",
        request=UpdateInput,
        responses={200: FeedOutput, **_errors({**BODY_ERRORS, **AUTH_ERRORS, 404: NO_FEED})},
    )
    def patch(self, request: Request) -> Response:
        data = validated(UpdateInput, request.data)
        feed = calendar_feed_update(owner=_owner(request), include_details=data["include_details"])
        return Response(_feed(feed))

    @extend_schema(
        operation_id="me_calendar_feed_destroy",
        request=None,
        responses={204: None, **_errors({**AUTH_ERRORS, 404: NO_FEED})},
    )
    def delete(self, request: Request) -> Response:
        calendar_feed_revoke(owner=_owner(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _owner(request: Request) -> User:
    user = signed_in(request)
    assert isinstance(user, User)  # noqa: S101 - AUTH_USER_MODEL
    return user
