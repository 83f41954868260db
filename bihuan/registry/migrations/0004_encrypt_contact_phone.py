"""Encrypt institution.contact_phone at rest and add its keyed search hash (bihuan.core.crypto)."""

from django.db import migrations, models

import bihuan.core.fields
from bihuan.core.crypto_services import migration_decrypt, migration_encrypt


class Migration(migrations.Migration):

    dependencies = [
        ("registry", "0003_coordinates_both_or_neither"),
    ]

    operations = [
        migrations.AddField(
            model_name="institution",
            name="contact_phone_hash",
            field=bihuan.core.fields.BlindIndexField(
                blank=True,
                db_index=True,
                default="",
                editable=False,
                kind="phone",
                max_length=64,
                source="contact_phone",
            ),
        ),
        migrations.AlterField(
            model_name="institution",
            name="contact_phone",
            field=bihuan.core.fields.EncryptedTextField(
                blank=True, max_length=20, verbose_name='contact phone'
            ),
        ),
        migrations.RunPython(
            migration_encrypt("registry", "institution"),
            migration_decrypt("registry", "institution", ["contact_phone"]),
            elidable=False,
        ),
    ]
