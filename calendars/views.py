"""``GET /calendar/{token}.ics``: no login, the token is the key.

Every answer but the feed itself is the error envelope. An unknown, rotated or revoked
token takes one path (hash, throttle, one indexed lookup that finds nothing) and gets
the same 404 as any unknown URL, so nothing tells them apart. Reads are counted per
token (``CALENDAR_FEED_RATE``), unknown tokens included.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.http import parse_etags
from django.views.decorators.csrf import csrf_exempt

from calendars.feed import FeedContent, feed_content
from calendars.models import CalendarFeed
from calendars.selectors import calendar_feed_by_token
from calendars.services import token_hash
from calendars.throttle import feed_read_wait
from core.errors import error_body, json_error
from core.ical import CONTENT_TYPE
from core.read_audit import Read, ReadSurface, audit_read

FEED_METHODS = ("GET", "HEAD")
APPOINTMENT = "scheduling.appointment"  # the audit rows' object type of an appointment
# A secret URL: no shared cache keeps it, no page it is opened from learns it, no index.
FEED_HEADERS = {
    "Cache-Control": "private, no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def _throttled(wait: int) -> JsonResponse:
    response = JsonResponse(
        error_body(
            "throttled", "Too many reads of this calendar feed.", {"retry_after_seconds": wait}
        ),
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response


def _not_modified(request: HttpRequest, etag: str) -> bool:
    wanted = parse_etags(request.headers.get("If-None-Match", ""))
    return "*" in wanted or etag in {tag.removeprefix("W/") for tag in wanted}


def _audit_details_read(feed: CalendarFeed, content: FeedContent) -> None:
    """Names and reasons went out: a read of each appointment, as on the dashboard (a
    patient's own are skipped by ``audit_read``)."""
    if feed.include_details:
        audit_read(
            actor=feed.owner,
            surface=ReadSurface.CALENDAR_FEED,
            reads=[
                Read("appointment.read", (APPOINTMENT, pk), patient_id)
                for pk, patient_id in content.shown
            ],
        )


@csrf_exempt  # nothing here writes; another method gets the 405 envelope, not CSRF's page
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in FEED_METHODS:
        refusal = json_error(405, "method_not_allowed", "Only GET and HEAD read a feed.")
        refusal["Allow"] = ", ".join(FEED_METHODS)
        return refusal
    wait = feed_read_wait(token_hash(token))
    if wait:
        return _throttled(wait)
    feed = calendar_feed_by_token(token)
    if feed is None:
        return json_error(404, "not_found", "Not found.")
    content = feed_content(feed, now=timezone.now())
    response: HttpResponse
    if _not_modified(request, content.etag):
        response = HttpResponse(status=304)
    else:
        _audit_details_read(feed, content)
        response = HttpResponse(content.body, content_type=CONTENT_TYPE)
        response["Content-Disposition"] = 'inline; filename="carebook.ics"'
    response["ETag"] = content.etag
    for name, value in FEED_HEADERS.items():
        response[name] = value
    return response
