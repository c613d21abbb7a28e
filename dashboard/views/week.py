"""The week calendar: slots and appointments by local day."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard import selectors
from dashboard.access import clinician_required
from dashboard.views._common import clinician_of, parse_day


@require_GET
@clinician_required
def week(request: HttpRequest) -> HttpResponse:
    user = clinician_of(request)
    today = selectors.today_for(user)
    start = selectors.week_start_of(parse_day(request.GET.get("start"), today))
    context = {
        "days": selectors.week_for(clinician=user, week_start=start),
        "week_start": start,
        "week_end": start + timedelta(days=6),
        "previous_week": start - timedelta(weeks=1),
        "next_week": start + timedelta(weeks=1),
        "today": today,
    }
    return render(request, "dashboard/week.html", context)
