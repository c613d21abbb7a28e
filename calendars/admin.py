"""Back office: who has a calendar feed (never its hash), and revoking one."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from calendars.errors import CalendarFeedNotFound
from calendars.models import CalendarFeed
from calendars.services import calendar_feed_revoke


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Read-only: feeds are made and rotated by their owners (``me/calendar-feed/``)."""

    list_display = ("owner", "include_details", "created_at", "rotated_at")
    list_filter = ("include_details",)
    search_fields = ("owner__email",)
    list_select_related = ("owner",)
    fields = ("owner", "include_details", "created_at", "rotated_at")  # not the hash
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoking is the action below: audited, through the service

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking deletes the feed: who holds the model's delete permission (staff)."""
        return request.user.has_perm("calendars.delete_calendarfeed")

    @admin.action(
        description="Revoke the selected feeds (their URLs answer 404)", permissions=["revoke"]
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet[CalendarFeed]) -> None:
        revoked = 0
        for feed in queryset.select_related("owner"):
            try:
                calendar_feed_revoke(owner=feed.owner, actor=cast(User, request.user))
            except CalendarFeedNotFound:
                continue  # revoked or rotated away meanwhile
            revoked += 1
        self.message_user(request, f"Revoked {revoked} calendar feed(s).", messages.SUCCESS)
