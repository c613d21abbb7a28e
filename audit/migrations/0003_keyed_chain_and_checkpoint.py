"""The chain becomes keyed (HMAC-SHA256) and the periodic verification gets a checkpoint.

Existing links are not rewritten: the append-only trigger refuses it, and rewriting the
evidence is what the chain exists to reveal. They keep ``key_id = ""`` (plain sha256) and
stay verifiable as a legacy prefix; every link sealed after this migration is keyed.
Adding the columns changes no row (no default is written into existing rows by an UPDATE).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_append_only_triggers'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditChainCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('verified_seal_id', models.BigIntegerField(default=0)),
                ('verified_hash', models.CharField(default='0000000000000000000000000000000000000000000000000000000000000000', max_length=64)),
                ('verified_count', models.BigIntegerField(default=0)),
                ('keyed_seen', models.BooleanField(default=False)),
                ('ok', models.BooleanField(default=True)),
                ('broken_seal_id', models.BigIntegerField(blank=True, null=True)),
                ('broken_event_id', models.BigIntegerField(blank=True, null=True)),
                ('reason', models.TextField(blank=True)),
                ('unsealed', models.BigIntegerField(default=0)),
                ('checked_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.AddField(
            model_name='auditseal',
            name='key_id',
            field=models.CharField(blank=True, default='', max_length=16),
        ),
        migrations.AddField(
            model_name='auditseal',
            name='position',
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
