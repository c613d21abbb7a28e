"""The audit chain's Prometheus gauges: its head after each seal run, and the periodic
verification's result.

The head's hash is exported as its first 48 bits (an integer a float holds exactly), so
Prometheus keeps a history of heads outside the database: an operator compares it with
the chain, and an alert can fire when ``audit_chain_verified_ok`` drops to 0 or
``audit_chain_verified_timestamp_seconds`` stops moving. ``mostrecent``: under
``PROMETHEUS_MULTIPROC_DIR`` the last value any process set wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Gauge

if TYPE_CHECKING:
    from audit.models import AuditChainCheckpoint

HASH_PREFIX_HEX_DIGITS = 12

HEAD_SEAL_ID = Gauge(
    "audit_chain_head_seal_id",
    "Id of the newest audit chain link (published after each seal run).",
    multiprocess_mode="mostrecent",
)
HEAD_COUNT = Gauge(
    "audit_chain_length",
    "Links in the audit chain at its newest link.",
    multiprocess_mode="mostrecent",
)
HEAD_HASH_PREFIX = Gauge(
    "audit_chain_head_hash_prefix",
    "First 48 bits of the newest link's hash, as an integer.",
    multiprocess_mode="mostrecent",
)
VERIFIED_OK = Gauge(
    "audit_chain_verified_ok",
    "1 when the periodic verification found the chain intact, 0 when broken.",
    multiprocess_mode="mostrecent",
)
VERIFIED_SEAL_ID = Gauge(
    "audit_chain_verified_seal_id",
    "Id of the last audit chain link the periodic verification found intact.",
    multiprocess_mode="mostrecent",
)
VERIFIED_AT = Gauge(
    "audit_chain_verified_timestamp_seconds",
    "Unix time of the last periodic verification of the audit chain.",
    multiprocess_mode="mostrecent",
)


def hash_prefix(hash_hex: str) -> int:
    return int(hash_hex[:HASH_PREFIX_HEX_DIGITS], 16)


def publish_head(*, seal_id: int, count: int, hash_hex: str) -> None:
    HEAD_SEAL_ID.set(seal_id)
    HEAD_COUNT.set(count)
    HEAD_HASH_PREFIX.set(hash_prefix(hash_hex))


def publish_verification(checkpoint: AuditChainCheckpoint) -> None:
    VERIFIED_OK.set(1 if checkpoint.ok else 0)
    VERIFIED_SEAL_ID.set(checkpoint.verified_seal_id)
    if checkpoint.checked_at is not None:
        VERIFIED_AT.set(checkpoint.checked_at.timestamp())
