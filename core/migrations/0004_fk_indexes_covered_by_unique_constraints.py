"""Drop two foreign-key indexes that a unique constraint already covers (issue #18).

A B-tree on (a, b, …) serves every lookup on ``a`` alone, so the separate index Django
creates for a foreign key is redundant when the key leads a unique constraint:

* ``core_idempotencyrecord.user_id``: led by ``uniq_idempotency_key_per_user_scope``
  (user, scope, key). Every booking inserts one record and updates it once (its
  ``expires_at`` is indexed, so that update is never HOT): two index entries fewer each;
* ``core_outboxdelivery.event_id``: led by ``uniq_outbox_delivery_per_subscriber``
  (event, subscriber); one row per event and subscriber in the worker.

Only the indexes go: the foreign-key constraints stay as they are (Django's own
``AlterField`` would drop and re-add them, revalidating every row under a lock). The
index names are Django's, the same on PostgreSQL and on SQLite (the demo).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = (
    ("core_idempotencyrecord_user_id_a82d8527", "core_idempotencyrecord", "user_id"),
    ("core_outboxdelivery_event_id_21676d1b", "core_outboxdelivery", "event_id"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0003_job_lease"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="outboxdelivery",
                    name="event",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="core.outboxevent",
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
    ]
