"""``manage.py db_grant_runtime_role --role carebook_app``: the privileges the api, worker and
beat connect with, granted by the owner role after ``migrate``.

The owner role owns the tables and runs migrations. The runtime role gets only what the
application does at run time: SELECT, INSERT, UPDATE, DELETE on its tables; on the audit
tables SELECT and INSERT alone; USAGE on the sequences; CONNECT and TEMPORARY (bulk import
stages rows in temporary tables) on the database. No TRUNCATE, no REFERENCES, no TRIGGER,
no CREATE in the schema, and not the owner: it cannot ``ALTER TABLE … DISABLE TRIGGER``,
drop or truncate the audit tables, or change a row the append-only triggers protect.

Idempotent: every run revokes what the role holds on the schema's tables and sequences and
grants the set above again, so it converges after each migration (run it after every
``migrate``). ``ALTER DEFAULT PRIVILEGES`` gives tables created by a later migration the
ordinary set until the next run narrows them.
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from core.db import is_postgres

# Append-only: the runtime role may add and read rows, never change or remove them.
APPEND_ONLY_TABLES = ("audit_auditevent", "audit_auditseal")
# Written by migrate alone (the owner's job); the runtime role only reads it.
READ_ONLY_TABLES = ("django_migrations",)
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Command(BaseCommand):
    help = "Grant the runtime database role exactly the privileges the application needs."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--role", required=True, help="The runtime role (lower case).")
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="Database alias to connect with; it must connect as the owner role.",
        )
        parser.add_argument(
            "--password-env",
            metavar="VARIABLE",
            help="Create the role (LOGIN) if missing, and set its password from this "
            "environment variable (never on the command line). Needs CREATEROLE.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role: str = options["role"]
        if not ROLE_NAME.match(role):
            raise CommandError(f"--role {role!r}: use lower-case letters, digits and _.")
        connection = connections[options["database"]]
        if not is_postgres(connection):
            raise CommandError("Database roles need PostgreSQL.")
        password = None
        if options["password_env"]:
            password = os.environ.get(options["password_env"], "")
            if not password:
                raise CommandError(f"{options['password_env']} is empty or not set.")
        with transaction.atomic(using=connection.alias):
            grant_runtime_role(connection, role, password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"{role}: SELECT, INSERT on {', '.join(APPEND_ONLY_TABLES)}; "
                "SELECT, INSERT, UPDATE, DELETE on the other tables; no TRUNCATE, no DDL."
            )
        )


def grant_runtime_role(connection: Any, role: str, *, password: str | None = None) -> None:
    """Apply the runtime role's privileges in the current transaction (see module doc)."""
    from psycopg import sql

    connection.ensure_connection()
    raw = connection.connection  # a psycopg cursor: the password never reaches a query log
    with raw.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database(), current_schema()")
        owner, database, schema = cursor.fetchone()
        if role == owner:
            raise CommandError(f"{role} is the role this command runs as (the owner).")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None and password is None:
            raise CommandError(f"Role {role} does not exist (create it, or pass --password-env).")
        if found is not None and found[0]:
            raise CommandError(f"{role} is a superuser: privileges would not bind it.")
        if found is None:
            cursor.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        elif password is not None:
            cursor.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tableowner = %s",
            [schema, role],
        )
        if owned := [name for (name,) in cursor.fetchall()]:
            raise CommandError(f"{role} owns {', '.join(owned)}: an owner can disable triggers.")

        names = {
            "role": sql.Identifier(role),
            "owner": sql.Identifier(owner),
            "schema": sql.Identifier(schema),
            "database": sql.Identifier(database),
        }
        statements = [
            "GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}",
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "REVOKE CREATE ON SCHEMA {schema} FROM {role}",
            # Start from nothing, so an earlier, wider grant does not survive.
            "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
            "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
            "GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        ]
        for statement in statements:
            cursor.execute(sql.SQL(statement).format(**names))
        for table in APPEND_ONLY_TABLES:
            cursor.execute(
                sql.SQL("REVOKE UPDATE, DELETE ON {table} FROM {role}").format(
                    table=sql.Identifier(table), **names
                )
            )
        for table in READ_ONLY_TABLES:
            cursor.execute(
                sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {table} FROM {role}").format(
                    table=sql.Identifier(table), **names
                )
            )
        _check_effective_privileges(cursor, role=role, owner=owner, schema=schema)


def _check_effective_privileges(cursor: Any, *, role: str, owner: str, schema: str) -> None:
    """What the role can really do, memberships and PUBLIC included: grants made elsewhere
    (a role it belongs to, PUBLIC's CREATE on the schema before PostgreSQL 15) would
    otherwise survive this command unseen. Raising rolls the whole grant back."""
    problems = []
    cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [role, owner])
    if cursor.fetchone()[0]:
        problems.append(f"it is a member of the owner role {owner}")
    cursor.execute("SELECT has_schema_privilege(%s, %s, 'CREATE')", [role, schema])
    if cursor.fetchone()[0]:
        problems.append(
            f"it may CREATE in schema {schema} (through PUBLIC? as the schema's owner run "
            f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC)"
        )
    for table in APPEND_ONLY_TABLES:
        for privilege in ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES"):
            cursor.execute(
                "SELECT has_table_privilege(%s, %s, %s)",
                [role, f"{schema}.{table}", privilege],
            )
            if cursor.fetchone()[0]:
                problems.append(f"it still holds {privilege} on {table} (through a role?)")
    if problems:
        raise CommandError(f"{role} would not be a runtime role: {'; '.join(problems)}.")
