"""django-axes hooks for the web side: whose attempt a login is, and the lockout answer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import axes_lockout_response as api_lockout_response


def axes_lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    if request.path.startswith("/dashboard/"):
        return render(request, "dashboard/locked_out.html", status=429)
    return api_lockout_response(request, *args, **kwargs)


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The account a login attempt is for, whichever form sent it.

    The API and the dashboard authenticate with ``email``; the admin's login form sends
    ``username`` (holding the email). Without this, admin failures were keyed by no
    account at all, so they neither locked the account nor shared the API's count.
    """
    source: Any = credentials if credentials is not None else request.POST
    value = source.get("email") or source.get("username")
    return str(value).strip().lower() if value else None
