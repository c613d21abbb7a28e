"""Index four nullable foreign keys only where they are set (issue #18).

A new booking leaves ``series``, ``previous_slot`` and ``cancelled_by`` of its appointment
empty, and almost no slot is held (``held_for``); yet Django's full index of each column
took a NULL entry on every booking's INSERT of the appointment (three) and on its UPDATE
of the slot (one; that UPDATE changes the indexed ``status``, so it is never HOT). A
partial index ``WHERE … IS NOT NULL`` serves every lookup that names a value (foreign-key
checks and ``SET NULL`` cascades included: ``= value`` implies ``IS NOT NULL``) and costs a
row nothing while the column is empty.

Only the indexes change: the foreign-key constraints stay as they are (Django's own
``AlterField`` would drop and re-add them, revalidating every row under a lock). The old
index names are Django's, the same on PostgreSQL and on SQLite (the demo).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = (
    ("scheduling_appointment_series_id_10d6bf8a", "scheduling_appointment", "series_id"),
    (
        "scheduling_appointment_previous_slot_id_af86c577",
        "scheduling_appointment",
        "previous_slot_id",
    ),
    (
        "scheduling_appointment_cancelled_by_id_ecbfb9a1",
        "scheduling_appointment",
        "cancelled_by_id",
    ),
    ("scheduling_slot_held_for_id_6d82b746", "scheduling_slot", "held_for_id"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0007_fk_indexes_covered_by_composite_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="appointment",
                    name="cancelled_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="appointment",
                    name="previous_slot",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The slot this appointment left when it was last rescheduled.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="scheduling.slot",
                    ),
                ),
                migrations.AlterField(
                    model_name="appointment",
                    name="series",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The series this appointment is an occurrence of, if any.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="appointments",
                        to="scheduling.appointmentseries",
                    ),
                ),
                migrations.AlterField(
                    model_name="slot",
                    name="held_for",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        editable=False,
                        help_text="The patient one seat is held for (a waitlist offer).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}")',
                )
                for index, table, column in DROPPED
            ],
        ),
        migrations.AddIndex(
            model_name="appointment",
            index=models.Index(
                condition=models.Q(("series__isnull", False)),
                fields=["series"],
                name="appointment_series_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="appointment",
            index=models.Index(
                condition=models.Q(("previous_slot__isnull", False)),
                fields=["previous_slot"],
                name="appointment_prev_slot_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="appointment",
            index=models.Index(
                condition=models.Q(("cancelled_by__isnull", False)),
                fields=["cancelled_by"],
                name="appointment_cancelled_by_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="slot",
            index=models.Index(
                condition=models.Q(("held_for__isnull", False)),
                fields=["held_for"],
                name="slot_held_for_idx",
            ),
        ),
    ]
