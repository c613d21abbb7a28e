"""Signing in and out of the dashboard."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import CLINICIAN_ROLES, Role, User
from dashboard.forms import LoginForm


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Email and password through Django auth, so django-axes locks it like the API."""
    posted = request.method == "POST"
    form = LoginForm(request.POST if posted else None)
    refused = ""
    if posted and form.is_valid():
        user = authenticate(
            request, email=form.cleaned_data["email"], password=form.cleaned_data["password"]
        )
        if user is None:
            refused = "The email address or password is not right."
        elif isinstance(user, User) and user.role == Role.STAFF:
            login(request, user)
            return redirect("admin:index")
        elif not (isinstance(user, User) and user.role in CLINICIAN_ROLES):
            refused = "This sign-in is for clinicians. Clients use the Carebook app."
        else:
            login(request, user)
            return redirect(_safe_next(request) or reverse("dashboard:agenda"))
    status = 400 if posted else 200
    context = {"form": form, "refused": refused, "next": _safe_next(request) or ""}
    return render(request, "dashboard/login.html", context, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("dashboard:login")
