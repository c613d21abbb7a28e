"""Every row lock of calendars is taken here: the owner's row, then their feed."""

from __future__ import annotations

from accounts.models import User
from calendars.models import CalendarFeed


def calendar_feed_lock(owner: User) -> CalendarFeed | None:
    """Serialise every write of ``owner``'s feed and return it locked (None: no feed).

    The owner's row is locked first (``FOR NO KEY UPDATE``: rows that merely reference the
    user are not blocked) so that two first POSTs make one feed, not a unique violation.
    """
    list(User.objects.select_for_update(no_key=True).filter(pk=owner.pk).values_list("pk"))
    return CalendarFeed.objects.select_for_update().filter(owner=owner).first()
