"""Publish the default on-site checklist (default_checklist.py) as version 1 of template "default".

The questions are validated against the violation types the taxonomy migration seeded, so a flag
never suggests a code the database does not have. Nothing is removed on the way back: rounds may
already point at the version.
"""

from django.db import migrations
from django.utils import timezone


def publish_default(apps, schema_editor):
    from bihuan.screening.checklists import validate_definition
    from bihuan.screening.default_checklist import RAW_DEFINITION

    ViolationType = apps.get_model("leads", "ViolationType")
    ChecklistTemplate = apps.get_model("screening", "ChecklistTemplate")
    ChecklistVersion = apps.get_model("screening", "ChecklistVersion")
    codes = set(ViolationType.objects.filter(is_active=True).values_list("code", flat=True))
    definition = validate_definition(RAW_DEFINITION, known_codes=codes)
    template, _created = ChecklistTemplate.objects.get_or_create(
        code="default",
        defaults={
            "name": "校外培训机构现场排查表",
            "description": (
                "依据“双随机、一公开”抽查、消防九项规定和预收费监管要求整理的默认排查表。"
            ),
        },
    )
    if not ChecklistVersion.objects.filter(template=template).exists():
        ChecklistVersion.objects.create(
            template=template,
            number=1,
            status="published",
            definition=definition,
            notes="默认排查表",
            published_at=timezone.now(),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("screening", "0001_initial"),
        ("leads", "0002_seed_taxonomy"),
    ]
    operations = [migrations.RunPython(publish_default, migrations.RunPython.noop)]
