"""An appointment's iCalendar SEQUENCE (calendar feeds and the .ics of appointment emails).

RFC 5545 wants SEQUENCE raised on every revision, or a phone calendar keeps the old
version. The database raises it, whoever writes the row (a service, the admin, a raw
UPDATE): a trigger sets ``sequence = OLD.sequence + 1`` on every UPDATE that changes the
row, ignoring the value written, so no writer can forget it or lower it. The row lock of
the UPDATE serialises concurrent changes, so no raise is lost.

PostgreSQL: a BEFORE UPDATE trigger, only when a column changed. The SQLite demo: an
AFTER UPDATE trigger that raises it on every UPDATE (SQLite's recursive triggers are off,
so its own UPDATE does not fire it again).
"""

from django.db import migrations, models

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION scheduling_appointment_sequence_raise() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.sequence := OLD.sequence + 1;
    RETURN NEW;
END;
$$;
"""
POSTGRES_TRIGGER = (
    "CREATE TRIGGER scheduling_appointment_sequence_raise "
    "BEFORE UPDATE ON scheduling_appointment "
    "FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) "
    "EXECUTE FUNCTION scheduling_appointment_sequence_raise();"
)
POSTGRES_DROP = (
    "DROP TRIGGER IF EXISTS scheduling_appointment_sequence_raise ON scheduling_appointment;"
    "DROP FUNCTION IF EXISTS scheduling_appointment_sequence_raise();"
)
SQLITE_TRIGGER = (
    "CREATE TRIGGER scheduling_appointment_sequence_raise "
    "AFTER UPDATE ON scheduling_appointment FOR EACH ROW BEGIN "
    "UPDATE scheduling_appointment SET sequence = OLD.sequence + 1 WHERE id = NEW.id; END;"
)
SQLITE_DROP = "DROP TRIGGER IF EXISTS scheduling_appointment_sequence_raise;"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION)
        schema_editor.execute(POSTGRES_TRIGGER)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DROP)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0004_slot_holds'),
    ]

    operations = [
        migrations.AddField(
            model_name='appointment',
            name='sequence',
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
