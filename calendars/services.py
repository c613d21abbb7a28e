"""Calendar feed writes: issue (create or rotate), change what a feed shows, revoke.

Each is one transaction with its audit row. The token is shown once, to the caller of
``calendar_feed_issue``; only its SHA-256 is stored, and never the token nor the hash is
written to the audit trail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, Role, User
from accounts.permissions import require_role
from calendars.errors import CalendarFeedNotFound
from calendars.lock_objects import calendar_feed_lock
from calendars.models import CalendarFeed
from core.audit import audit_record

# Who may have a feed: the people appointments belong to. Staff have none of their own.
FEED_ROLES = (Role.PATIENT, *CLINICIAN_ROLES)
# 32 random bytes: 43 URL-safe characters, 256 bits a guesser must find.
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    """What is stored of a feed token (and looked up when a feed is read)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class IssuedFeed:
    feed: CalendarFeed
    token: str  # shown once: only its hash is kept


@transaction.atomic
def calendar_feed_issue(*, owner: User, include_details: bool | None = None) -> IssuedFeed:
    """A new secret URL for ``owner``'s feed: the first one, or a rotation (the previous
    URL answers 404 from the commit on). ``include_details`` None keeps the setting (off
    for a new feed)."""
    require_role(owner, *FEED_ROLES)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed = calendar_feed_lock(owner)
    action = "calendar_feed.rotate"
    if feed is None:
        feed = CalendarFeed(owner=owner)
        action = "calendar_feed.create"
    else:
        feed.rotated_at = timezone.now()
    if include_details is not None:
        feed.include_details = include_details
    feed.token_hash = token_hash(token)
    feed.save()
    audit_record(
        actor=owner, action=action, obj=feed,
        metadata={"owner_id": owner.pk, "include_details": feed.include_details},
    )  # fmt: skip
    return IssuedFeed(feed=feed, token=token)


@transaction.atomic
def calendar_feed_update(*, owner: User, include_details: bool) -> CalendarFeed:
    """Turn the names and reasons in ``owner``'s feed on or off (the URL stays)."""
    feed = calendar_feed_lock(owner)
    if feed is None:
        raise CalendarFeedNotFound()
    if feed.include_details != include_details:
        before = feed.include_details
        feed.include_details = include_details
        feed.save(update_fields=["include_details"])
        audit_record(
            actor=owner, action="calendar_feed.update", obj=feed,
            changes={"include_details": {"before": before, "after": include_details}},
        )  # fmt: skip
    return feed


@transaction.atomic
def calendar_feed_revoke(*, owner: User, actor: User | None = None) -> None:
    """Delete ``owner``'s feed: its URL answers 404 from the commit on. ``actor`` is the
    staff member revoking it in the admin (default: the owner)."""
    feed = calendar_feed_lock(owner)
    if feed is None:
        raise CalendarFeedNotFound()
    feed_id = feed.pk
    feed.delete()
    audit_record(
        actor=actor or owner, action="calendar_feed.revoke",
        obj=("calendars.calendarfeed", feed_id), metadata={"owner_id": owner.pk},
    )  # fmt: skip
