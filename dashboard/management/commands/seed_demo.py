"""``seed_demo``: the demo clinic that ``make run`` loads (the parts: ``dashboard.demo``).

It lives in dashboard, the top layer, because the demo reaches every domain: scheduling,
consultations, labs, reports, the imports.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.demo.people import (
    CLINICIANS,
    DEMO_PASSWORD,
    FRONT_DESK,
    PATIENTS,
    STAFF,
)
from dashboard.demo.world import demo_seed


class Command(BaseCommand):
    help = (
        "Load or refresh the obviously fake demo clinic around today (idempotent) and "
        "print the demo logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load demo accounts with a published password even when DJANGO_ENV=production.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION and not options["allow_production"]:
            raise CommandError(
                "Refusing to create demo accounts with a published password in production."
            )
        _, changes = demo_seed(self.stdout.write)
        if changes == 0:
            self.stdout.write("Demo data already present; nothing changed.")
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for person in [STAFF, FRONT_DESK, *CLINICIANS, *PATIENTS]:
            self.stdout.write(f"  {person.role:<13} {person.email}")
        self.stdout.write(
            f"  ({STAFF.email} is a superuser; {FRONT_DESK.email} is front-desk staff: /admin/)"
        )
        self.stdout.write("  Clinicians: /dashboard/   API docs: /api/docs/")
