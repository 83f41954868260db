"""Encrypt lead.reporter_phone at rest and add its keyed search hash (bihuan.core.crypto)."""

from django.db import migrations, models

import bihuan.core.fields
from bihuan.core.crypto_services import migration_decrypt, migration_encrypt


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0003_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="reporter_phone_hash",
            field=bihuan.core.fields.BlindIndexField(
                blank=True,
                db_index=True,
                default="",
                editable=False,
                kind="phone",
                max_length=64,
                source="reporter_phone",
            ),
        ),
        migrations.AlterField(
            model_name="lead",
            name="reporter_phone",
            field=bihuan.core.fields.EncryptedTextField(
                blank=True, max_length=20, verbose_name="reporter's phone"
            ),
        ),
        migrations.RunPython(
            migration_encrypt("leads", "lead"),
            migration_decrypt("leads", "lead", ["reporter_phone"]),
            elidable=False,
        ),
    ]
