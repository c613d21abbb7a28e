"""PostgreSQL refuses UPDATE and DELETE of lab results: a correction supersedes.

Uses ``clinical_refuse_change()`` from consultations' 0002 migration. TRUNCATE is left
alone (test databases are flushed with it).
"""

from django.db import migrations


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE TRIGGER labs_labresult_append_only BEFORE UPDATE OR DELETE ON labs_labresult "
            "FOR EACH ROW EXECUTE FUNCTION clinical_refuse_change();",
            params=None,
        )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS labs_labresult_append_only ON labs_labresult;", params=None
        )


class Migration(migrations.Migration):
    dependencies = [
        ("labs", "0001_initial"),
        ("consultations", "0002_immutability_triggers"),
    ]

    operations = [migrations.RunPython(create_trigger, drop_trigger, elidable=False)]
