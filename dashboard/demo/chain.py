"""The demo's audit trail sealed and verified, as the worker's beat would do it
(``audit.seal`` then ``audit.verify_chain``), so a first start's overview shows the chain
checked instead of "not verified yet" until beat's first run."""

from __future__ import annotations

from django.conf import settings

from audit.services import audit_chain_verify_incremental, audit_head_publish, audit_seal_pending
from dashboard.demo.log import DemoLog


def chain_seal_and_verify(*, log: DemoLog) -> None:
    """Seal what is unsealed and verify the new links. Without ``AUDIT_CHAIN_KEY`` the
    rows wait for a worker that has it (nothing is sealed here)."""
    if not settings.AUDIT_CHAIN_KEY:
        return
    while audit_seal_pending(full=True):
        pass
    audit_head_publish()
    if not audit_chain_verify_incremental().ok:
        log.note("the audit chain did not verify: run verify_audit_log")
