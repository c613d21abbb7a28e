"""Database helpers shared by every app."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.constraints import ExclusionConstraint
from django.db import connections


class PostgresExclusionConstraint(ExclusionConstraint):
    """An exclusion constraint that exists on PostgreSQL and is skipped elsewhere.

    The SQLite demo path cannot express ``EXCLUDE USING gist``; there the services'
    row locks and checks keep the same rule, and PostgreSQL makes it true in production.
    """

    def _is_postgres(self, schema_editor: Any) -> bool:
        return bool(schema_editor.connection.vendor == "postgresql")

    def constraint_sql(self, model: Any, schema_editor: Any) -> Any:
        return (
            super().constraint_sql(model, schema_editor)
            if self._is_postgres(schema_editor)
            else None
        )

    def create_sql(self, model: Any, schema_editor: Any) -> Any:
        return (
            super().create_sql(model, schema_editor) if self._is_postgres(schema_editor) else None
        )

    def remove_sql(self, model: Any, schema_editor: Any) -> Any:
        return (
            super().remove_sql(model, schema_editor) if self._is_postgres(schema_editor) else None
        )

    def validate(
        self, model: Any, instance: Any, exclude: Any = None, using: str = "default"
    ) -> None:
        if connections[using].vendor == "postgresql":
            super().validate(model, instance, exclude=exclude, using=using)


def is_postgres(using: str = "default") -> bool:
    return bool(connections[using].vendor == "postgresql")
