"""Who reaches the clinician dashboard, and in which time zone pages render.

* anonymous → the dashboard login page;
* staff → the admin (their back office);
* patients and anyone else → a 404 page that points patients to the Carebook app
  (there is nothing of theirs here, and the page leaks no record);
* doctors and psychologists → the page, rendered in their own time zone.

A record the clinician may not see (another clinician's client or consultation) is a
404 page too: a ``core.errors.NotFound`` raised by a selector becomes that page here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import CLINICIAN_ROLES, Role, User
from core.errors import NotFound

View = Callable[..., HttpResponseBase]


def not_found_page(request: HttpRequest, message: str = "") -> HttpResponse:
    return render(request, "dashboard/404.html", {"message": message}, status=404)


def clinician_required(view: View) -> View:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            if getattr(request, "htmx", False):  # a partial must not swap in the login page
                return HttpResponseClientRedirect(reverse("dashboard:login"))
            return redirect_to_login(request.get_full_path())
        if isinstance(user, User) and user.role == Role.STAFF:
            return redirect("admin:index")
        if not (isinstance(user, User) and user.role in CLINICIAN_ROLES and user.is_active):
            return render(request, "dashboard/not_for_you.html", status=404)
        with timezone.override(user.tzinfo):  # every time on the page in the user's zone
            try:
                return view(request, *args, **kwargs)
            except (NotFound, Http404):
                return not_found_page(request)

    return wrapper
