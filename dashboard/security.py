"""The django-axes lockout answer: an HTML page on the dashboard, the JSON envelope elsewhere."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import axes_lockout_response as api_lockout_response


def axes_lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    if request.path.startswith("/dashboard/"):
        return render(request, "dashboard/locked_out.html", status=429)
    return api_lockout_response(request, *args, **kwargs)
