"""Database helpers shared by every app, and the one test for a PostgreSQL-only branch.

Carebook runs on PostgreSQL; ``make run``'s demo runs on SQLite. Code that takes a
PostgreSQL-only path (a statement of ``core.sql``, an exclusion constraint, an advisory
lock, ``COPY``) asks ``is_postgres`` and keeps a plain Django path for the demo.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.constraints import ExclusionConstraint
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper


def is_postgres(db: str | BaseDatabaseWrapper = DEFAULT_DB_ALIAS) -> bool:
    """Whether ``db`` (a database alias or a connection) is PostgreSQL."""
    connection = connections[db] if isinstance(db, str) else db
    return bool(connection.vendor == "postgresql")


class PostgresExclusionConstraint(ExclusionConstraint):
    """An exclusion constraint that exists on PostgreSQL and is skipped elsewhere.

    The SQLite demo path cannot express ``EXCLUDE USING gist``; there the services'
    row locks and checks keep the same rule, and PostgreSQL makes it true in production.
    """

    def constraint_sql(self, model: Any, schema_editor: Any) -> Any:
        if not is_postgres(schema_editor.connection):
            return None
        return super().constraint_sql(model, schema_editor)

    def create_sql(self, model: Any, schema_editor: Any) -> Any:
        if not is_postgres(schema_editor.connection):
            return None
        return super().create_sql(model, schema_editor)

    def remove_sql(self, model: Any, schema_editor: Any) -> Any:
        if not is_postgres(schema_editor.connection):
            return None
        return super().remove_sql(model, schema_editor)

    def validate(
        self, model: Any, instance: Any, exclude: Any = None, using: str = "default"
    ) -> None:
        if is_postgres(using):
            super().validate(model, instance, exclude=exclude, using=using)
