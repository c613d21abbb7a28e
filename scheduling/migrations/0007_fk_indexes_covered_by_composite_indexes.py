"""Drop the foreign-key indexes that a composite index already leads (issue #18).

A B-tree on (a, b) serves every lookup on ``a`` alone (foreign-key checks and cascades
included), so the separate index Django creates for each foreign key below only costs
writes: each booking inserts an appointment (two index entries fewer) and updates its
slot (one fewer: the UPDATE changes the indexed ``status``, so it is never HOT).

* ``scheduling_slot.clinician_id``: led by (clinician, start);
* ``scheduling_appointment.patient_id`` / ``clinician_id``: led by (patient, start) and
  (clinician, start);
* ``scheduling_appointmentseries.patient_id`` / ``clinician_id``: led by
  (patient, created_at) and (clinician, created_at).

Only the indexes go: the foreign-key constraints stay as they are (Django's own
``AlterField`` would drop and re-add them, revalidating every row under a lock). The
index names are Django's, the same on PostgreSQL and on SQLite (the demo).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = (
    ("scheduling_slot_clinician_id_6360b7b5", "scheduling_slot", "clinician_id"),
    ("scheduling_appointment_clinician_id_7350c132", "scheduling_appointment", "clinician_id"),
    ("scheduling_appointment_patient_id_1a2fb708", "scheduling_appointment", "patient_id"),
    (
        "scheduling_appointmentseries_clinician_id_82bdc612",
        "scheduling_appointmentseries",
        "clinician_id",
    ),
    (
        "scheduling_appointmentseries_patient_id_d9124d97",
        "scheduling_appointmentseries",
        "patient_id",
    ),
)


def _user(related_name: str, on_delete: object) -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        on_delete=on_delete,  # type: ignore[arg-type]
        related_name=related_name,
        to=settings.AUTH_USER_MODEL,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0006_admin_start_order_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="appointment",
                    name="clinician",
                    field=_user("clinician_appointments", django.db.models.deletion.PROTECT),
                ),
                migrations.AlterField(
                    model_name="appointment",
                    name="patient",
                    field=_user("appointments", django.db.models.deletion.PROTECT),
                ),
                migrations.AlterField(
                    model_name="appointmentseries",
                    name="clinician",
                    field=_user("clinician_series", django.db.models.deletion.PROTECT),
                ),
                migrations.AlterField(
                    model_name="appointmentseries",
                    name="patient",
                    field=_user("appointment_series", django.db.models.deletion.PROTECT),
                ),
                migrations.AlterField(
                    model_name="slot",
                    name="clinician",
                    field=_user("slots", django.db.models.deletion.CASCADE),
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
    ]
