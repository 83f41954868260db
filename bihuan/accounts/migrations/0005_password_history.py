import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_encrypt_phone"),
    ]

    operations = [
        migrations.CreateModel(
            name="PasswordHistory",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("password", models.CharField(max_length=128, verbose_name="password hash")),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="set at"),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="password_history",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "previous password",
                "verbose_name_plural": "previous passwords",
                "ordering": ["user", "-created_at", "-pk"],
                "indexes": [
                    models.Index(
                        fields=["user", "-created_at"], name="passwordhistory_recent_of_user"
                    )
                ],
            },
        ),
    ]
