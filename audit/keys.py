"""The keys of the audit hash chain: one signing key, and a keyring to verify with.

The key comes from the environment (``AUDIT_CHAIN_KEY``) and never enters the database:
a database role that can write audit rows, even one that can rewrite them, cannot forge
a link without it. Each seal records the id of the key that made it, so a rotated key
keeps verifying the seals it made while it stays in ``AUDIT_CHAIN_OLD_KEYS``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_ID_LENGTH = 8


@dataclass(frozen=True)
class ChainKey:
    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never the secret, in a traceback or a log line
        return f"ChainKey(key_id={self.key_id!r})"


def key_id_of(secret: bytes) -> str:
    """The key's public name: the first hex digits of its sha256 (never the key itself)."""
    return hashlib.sha256(secret).hexdigest()[:KEY_ID_LENGTH]


def _chain_key(raw: str) -> ChainKey:
    secret = raw.encode()
    return ChainKey(key_id=key_id_of(secret), secret=secret)


def signing_key() -> ChainKey:
    """The key new seals are made with; refuses to run without one (fail closed)."""
    raw = getattr(settings, "AUDIT_CHAIN_KEY", "")
    if not raw:
        raise ImproperlyConfigured(
            "AUDIT_CHAIN_KEY is not set: the audit chain cannot be sealed or verified. "
            "Give the worker (and whoever runs verify_audit_log) a 32+ character key."
        )
    return _chain_key(raw)


def keyring() -> dict[str, ChainKey]:
    """Every key a seal may name: the current one (if set) and the retired ones."""
    raws = [*getattr(settings, "AUDIT_CHAIN_OLD_KEYS", [])]
    current = getattr(settings, "AUDIT_CHAIN_KEY", "")
    if current:
        raws.append(current)  # last: the current key wins a (vanishingly unlikely) id clash
    return {key.key_id: key for key in map(_chain_key, raws)}
