"""The current request id: shared by the envelope, the logs and the Celery tasks."""

from __future__ import annotations

import contextvars
import re
import uuid

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "carebook_request_id", default=None
)
# Matched with fullmatch: "$" alone would accept a trailing newline, which then fails
# as a response header (a 500 from a client-chosen header value).
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def new_request_id(incoming: str | None = None) -> str:
    """Keep a well-formed incoming id; otherwise make a fresh one."""
    if incoming and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token[str | None]:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)
