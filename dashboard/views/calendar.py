"""Subscribe in your calendar: the clinician's private feed URL, its rotation and
revocation, and whether it names patients (through ``calendars.services``).

Only the token's hash is stored, so the URL is shown once, in the answer to the POST
that made it (not after a redirect: keeping it in the session would store the secret).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from calendars.selectors import calendar_feed_of
from calendars.services import calendar_feed_issue, calendar_feed_revoke, calendar_feed_update
from dashboard.access import clinician_required
from dashboard.views._common import clinician_of


class DetailsForm(forms.Form):
    include_details = forms.BooleanField(
        required=False, label="Show patient names and reasons in my calendar"
    )


def _page(request: HttpRequest, *, feed_url: str = "") -> HttpResponse:
    feed = calendar_feed_of(clinician_of(request))
    context = {
        "feed": feed,
        "feed_url": feed_url,
        "webcal_url": "webcal://" + feed_url.split("://", 1)[1] if feed_url else "",
        "details_form": DetailsForm(
            initial={"include_details": feed.include_details if feed else False}
        ),
    }
    return render(request, "dashboard/calendar.html", context)


@require_GET
@clinician_required
def calendar_feed(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@clinician_required
def calendar_feed_new_url(request: HttpRequest) -> HttpResponse:
    """Create the feed, or rotate its URL (the previous one stops working at once)."""
    issued = calendar_feed_issue(owner=clinician_of(request))
    path = reverse("calendar-feed", kwargs={"token": issued.token})
    response = _page(request, feed_url=request.build_absolute_uri(path))
    response["Cache-Control"] = "no-store"  # the page holds the secret URL: keep no copy
    return response


@require_POST
@clinician_required
def calendar_feed_details(request: HttpRequest) -> HttpResponse:
    form = DetailsForm(request.POST)
    form.is_valid()  # a checkbox: absent is off, anything else is on
    on = bool(form.cleaned_data.get("include_details"))
    calendar_feed_update(owner=clinician_of(request), include_details=on)
    if on:
        messages.success(request, "Your calendar now shows patient names and reasons.")
    else:
        messages.success(request, "Your calendar no longer shows patient names or reasons.")
    return redirect("dashboard:calendar")


@require_POST
@clinician_required
def calendar_feed_revoke_url(request: HttpRequest) -> HttpResponse:
    calendar_feed_revoke(owner=clinician_of(request))
    messages.success(request, "Your calendar feed is revoked: its URL no longer works.")
    return redirect("dashboard:calendar")
