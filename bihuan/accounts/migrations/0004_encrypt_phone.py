"""Encrypt user.phone at rest and add its keyed search hash (bihuan.core.crypto)."""

from django.db import migrations, models

import bihuan.core.fields
from bihuan.core.crypto_services import migration_decrypt, migration_encrypt


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_full_name_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="phone_hash",
            field=bihuan.core.fields.BlindIndexField(
                blank=True,
                db_index=True,
                default="",
                editable=False,
                kind="phone",
                max_length=64,
                source="phone",
            ),
        ),
        migrations.AlterField(
            model_name="user",
            name="phone",
            field=bihuan.core.fields.EncryptedTextField(
                blank=True, max_length=20, verbose_name='phone'
            ),
        ),
        migrations.RunPython(
            migration_encrypt("accounts", "user"),
            migration_decrypt("accounts", "user", ["phone"]),
            elidable=False,
        ),
    ]
