"""Trigram indexes for the admin's people search (issue #19), on PostgreSQL only.

Django's ``icontains`` compares ``UPPER(column::text) LIKE UPPER('%term%')``, which no
B-tree serves; a GIN index of ``UPPER(column)`` with ``gin_trgm_ops`` does. The model
state has the indexes everywhere; the database gets them where pg_trgm exists.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from django.db.models.functions import Upper

FIELDS = ("email", "first_name", "last_name")


def _index(field: str) -> GinIndex:
    return GinIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=f"user_{field}_trgm")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    user = apps.get_model("accounts", "User")
    for field in FIELDS:
        schema_editor.add_index(user, _index(field))


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    user = apps.get_model("accounts", "User")
    for field in FIELDS:
        schema_editor.remove_index(user, _index(field))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_user_credentials_version")]

    operations = [
        TrigramExtension(),  # no-op off PostgreSQL
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[
                migrations.AddIndex(model_name="user", index=_index(field)) for field in FIELDS
            ],
        ),
    ]
