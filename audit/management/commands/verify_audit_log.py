"""``manage.py verify_audit_log``: check the audit hash chain; exit 1 on the first break,
or when a head published earlier is no longer in the chain."""

from __future__ import annotations

import argparse
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import (
    audit_chain_head_missing,
    audit_chain_verify,
    audit_head_publish,
    audit_seal_pending,
)

HEAD_FORMAT = re.compile(r"^(?P<seal_id>[1-9][0-9]{0,18}):(?P<hash>[0-9a-fA-F]{64})$")


def published_head(value: str) -> tuple[int, str]:
    """``<seal id>:<hash>``, as the ``audit.head`` log line's ``head`` field gives it."""
    match = HEAD_FORMAT.match(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not <seal id>:<64 hex digits> (the 'head' of an audit.head line)"
        )
    return int(match["seal_id"]), match["hash"].lower()


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and report the first broken link."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--seal-first",
            action="store_true",
            help="Seal pending rows before verifying (otherwise they are only counted).",
        )
        parser.add_argument(
            "--head",
            action="append",
            default=[],
            type=published_head,
            metavar="SEAL_ID:HASH",
            help="A head published earlier (audit.head log line, or its gauges): the chain "
            "must still contain it. Repeat for several.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["seal_first"]:
            while audit_seal_pending(full=True):
                pass
            audit_head_publish()
        report = audit_chain_verify()
        if not report.ok:
            raise CommandError(
                f"BROKEN at audit event #{report.broken_event_id} "
                f"(seal #{report.broken_seal_id}): {report.reason}. "
                f"{report.checked} links verified before it."
            )
        for seal_id, hash_hex in options["head"]:
            if reason := audit_chain_head_missing(seal_id=seal_id, hash_hex=hash_hex):
                raise CommandError(
                    f"BROKEN at published head seal #{seal_id}: {reason}. "
                    f"The chain itself verifies ({report.checked} links): it was rebuilt."
                )
        legacy = f" ({report.legacy} unkeyed, from before the key)" if report.legacy else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: {report.checked} audit events verified{legacy}; "
                f"{report.unsealed} not sealed yet."
            )
        )
        if report.head is not None:
            self.stdout.write(f"Head: {report.head.token} ({report.head.count} links)")
        for seal_id, _ in options["head"]:
            self.stdout.write(f"Published head seal #{seal_id} is in the chain.")
