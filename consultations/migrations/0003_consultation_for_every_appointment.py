"""Every appointment has its consultation: create the ones reads used to create lazily.

From now on the consultation is created with its appointment (consultations/events.py),
so ``GET consultations/`` no longer writes. Each row is audited like the service audits
it (``consultation.create``, the system as actor).
"""

from django.db import migrations

BATCH_SIZE = 1000


def create_missing(apps, schema_editor):
    Appointment = apps.get_model("scheduling", "Appointment")
    Consultation = apps.get_model("consultations", "Consultation")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    missing = list(
        Appointment.objects.filter(consultation__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(missing), BATCH_SIZE):
        batch = missing[start : start + BATCH_SIZE]
        created = Consultation.objects.bulk_create(
            [Consultation(appointment_id=appointment_id) for appointment_id in batch]
        )
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    action="consultation.create",
                    object_type="consultations.consultation",
                    object_id=str(consultation.pk),
                    metadata={"source": "migration"},
                )
                for consultation in created
            ]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("consultations", "0002_immutability_triggers"),
        ("scheduling", "0001_initial"),
        ("audit", "0003_keyed_chain_and_checkpoint"),
    ]

    operations = [migrations.RunPython(create_missing, migrations.RunPython.noop)]
