"""The webhook signature scheme (docs/webhooks.md), for us and for receivers to copy.

``Carebook-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`` where each ``v1`` is
HMAC-SHA256(secret, f"{t}.{body}") over the exact request body bytes. Two ``v1`` values
are sent while a secret is being rotated. Receivers refuse a timestamp older (or further
in the future) than five minutes, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "Carebook-Signature"
EVENT_ID_HEADER = "Carebook-Event-Id"
EVENT_TYPE_HEADER = "Carebook-Event-Type"
DELIVERY_ID_HEADER = "Carebook-Delivery-Id"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The request is not a fresh, correctly signed Carebook delivery."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for ``body`` signed with every non-empty secret, newest first."""
    t = int(time.time()) if timestamp is None else timestamp
    signatures = [f"v1={compute_signature(s, t, body)}" for s in secrets if s]
    if not signatures:
        raise ValueError("at least one secret is needed to sign")
    return ",".join([f"t={t}", *signatures])


def verify_signature(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a delivery as a receiver would; return its timestamp or raise SignatureError.

    ``body`` must be the raw bytes received (not re-serialised JSON).
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("malformed signature header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance window")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("no signature matches")
    return timestamp
