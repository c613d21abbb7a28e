"""Notification reads: a person's preferences and whether a moment is in their quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from accounts.models import User
from notifications.models import NotificationPreference


def notification_preference_of(user: User) -> NotificationPreference:
    """The user's saved preferences, or the defaults (email on, no quiet hours) unsaved."""
    found = NotificationPreference.objects.filter(user=user).first()
    return found if found is not None else NotificationPreference(user=user)


def _inside(moment: time, start: time, end: time) -> bool:
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # the window crosses midnight


def in_quiet_hours(
    user: User, at: datetime, *, preference: NotificationPreference | None = None
) -> bool:
    """Whether ``at`` (an aware datetime) falls in the user's quiet hours, on their own
    wall clock (``User.time_zone``, DST included). No quiet hours: False."""
    preference = preference or notification_preference_of(user)
    if preference.quiet_start is None or preference.quiet_end is None:
        return False
    local = at.astimezone(user.tzinfo)
    return _inside(local.time().replace(tzinfo=None), preference.quiet_start, preference.quiet_end)


def quiet_hours_end(
    user: User, at: datetime, *, preference: NotificationPreference | None = None
) -> datetime | None:
    """When the quiet hours ``at`` falls in end (an aware datetime), or None when ``at`` is
    not in quiet hours. The end is the next ``quiet_end`` on the user's wall clock: a DST
    change in between moves it in UTC, not locally. An end that does not exist that day
    (inside the spring-forward gap) is read with the offset before the change, as Python's
    zoneinfo does: 02:30 in Berlin on the last Sunday of March is 03:30 CEST."""
    preference = preference or notification_preference_of(user)
    if not in_quiet_hours(user, at, preference=preference) or preference.quiet_end is None:
        return None
    zone = user.tzinfo
    local = at.astimezone(zone)
    day = local.date()
    if local.time().replace(tzinfo=None) >= preference.quiet_end:
        day += timedelta(days=1)
    end = datetime.combine(day, preference.quiet_end, tzinfo=zone)
    # Through UTC: a wall time inside a DST gap becomes the real instant after the gap.
    return end.astimezone(UTC)
