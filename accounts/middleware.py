"""The signed-in user of the current request, for audit rows written where no caller can
pass the actor (``User.save``'s credential-change safety net, e.g. Django's own admin
password-change view)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

_request_user: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "carebook_request_user", default=None
)


def current_request_user() -> Any:
    """The request's user if one is signed in (a session), else None (shell, worker)."""
    user = _request_user.get()
    return user if user is not None and getattr(user, "is_authenticated", False) else None


class RequestUserMiddleware:
    """After ``AuthenticationMiddleware``: keeps ``request.user`` (still lazy: it is read
    only when a credential change is recorded)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request_user.set(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            _request_user.reset(token)
