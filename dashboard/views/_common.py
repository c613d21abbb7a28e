"""What every dashboard page shares: the signed-in clinician and the day asked for."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest

from accounts.models import User
from consultations.lifecycle import Status
from core.errors import NotFound
from dashboard import selectors

# The lifecycle buttons' URL slugs → the consultation status each one moves to.
ACTION_STATUS = {
    "start": Status.IN_PROGRESS,
    "complete": Status.COMPLETED,
    "no-show": Status.NO_SHOW,
}


def clinician_of(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # clinician_required lets only clinicians through
        raise NotFound()
    return user


def parse_day(value: str | None, default: date) -> date:
    """The ISO day asked for (kept between the days a page can show), else ``default``."""
    try:
        return selectors.clamp_day(date.fromisoformat(value)) if value else default
    except ValueError:
        return default
