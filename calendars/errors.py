"""calendars' domain errors (rendered in the error envelope by core.errors)."""

from __future__ import annotations

from core.errors import NotFound


class CalendarFeedNotFound(NotFound):
    code = "calendar_feed_not_found"
    message = "You have no calendar feed."
