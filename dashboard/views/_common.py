"""What every dashboard page shares: the signed-in clinician, the day asked for, and the
lifecycle buttons (offered exactly as ``consultations.lifecycle`` allows them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from django.http import HttpRequest

from accounts.models import User
from consultations.lifecycle import Status, consultation_transitions_allowed
from consultations.models import Consultation
from core.errors import NotFound
from dashboard import selectors


class Move(NamedTuple):
    """A lifecycle button: its URL slug, the status it moves to, its two labels."""

    slug: str
    status: str
    label: str  # on an agenda row
    page_label: str  # on the consultation page
    secondary: bool = False


# The moves the dashboard offers, in button order; the lifecycle decides which show.
MOVES = (
    Move("start", Status.IN_PROGRESS, "Start", "Start session"),
    Move("no-show", Status.NO_SHOW, "No-show", "Mark no-show", secondary=True),
    Move("complete", Status.COMPLETED, "Complete", "Complete session"),
)
ACTION_STATUS = {move.slug: move.status for move in MOVES}


def moves_allowed(consultation: Consultation, *, actor: User, now: datetime) -> list[Move]:
    """The buttons for what ``consultations.lifecycle`` lets ``actor`` do at ``now``."""
    allowed = consultation_transitions_allowed(consultation, actor=actor, now=now)
    return [move for move in MOVES if move.status in allowed]


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
