"""``manage.py local_replica start|stop``: a streaming standby of the primary on loopback
(``make replica``, ``make replica-stop``; ``core.local_replica`` says how and what it may
change on the primary). For development and demonstrations: the primary is the server of
``DATABASE_URL``, and the standby listens on 127.0.0.1 only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from core.db import is_postgres
from core.local_replica import (
    Primary,
    ReplicaSetupError,
    primary_prepare,
    replica_start,
    replica_stop,
)


class Command(BaseCommand):
    help = "Start or stop a streaming-replication standby of the primary on 127.0.0.1."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["start", "stop"])
        parser.add_argument("--dir", required=True, type=Path, help="Its data directory.")
        parser.add_argument("--port", type=int, default=5433, help="Its port (start).")

    def handle(self, *args: Any, action: str, dir: Path, port: int, **options: Any) -> None:
        try:
            if action == "stop":
                stopped = replica_stop(dir, self._primary())
                self.stdout.write(f"stopped and removed {dir}" if stopped else f"none in {dir}")
                return
            self._start(dir, port)
        except ReplicaSetupError as exc:
            raise CommandError(str(exc)) from exc

    def _primary(self) -> Primary:
        if not is_postgres():
            raise CommandError("DATABASE_URL must name the PostgreSQL primary.")
        return Primary.from_settings(connections[DEFAULT_DB_ALIAS].settings_dict)

    def _start(self, directory: Path, port: int) -> None:
        database = connections[DEFAULT_DB_ALIAS].settings_dict
        primary = self._primary()
        for change in primary_prepare(primary):
            self.stdout.write(f"primary changed: {change}")
        replica = replica_start(primary, data_dir=directory, port=port)
        self.stdout.write(
            f"standby running in {replica.data_dir} on {replica.host}:{replica.port}\n"
            f"DATABASE_REPLICA_URL={replica.url(database['NAME'])}"
        )
