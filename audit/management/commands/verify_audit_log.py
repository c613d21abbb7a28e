"""``manage.py verify_audit_log``: check the audit hash chain; exit 1 on the first break."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_chain_verify, audit_seal_pending


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and report the first broken link."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--seal-first",
            action="store_true",
            help="Seal pending rows before verifying (otherwise they are only counted).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["seal_first"]:
            while audit_seal_pending(full=True):
                pass
        report = audit_chain_verify()
        if not report.ok:
            raise CommandError(
                f"BROKEN at audit event #{report.broken_event_id} "
                f"(seal #{report.broken_seal_id}): {report.reason}. "
                f"{report.checked} links verified before it."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: {report.checked} audit events verified; {report.unsealed} not sealed yet."
            )
        )
