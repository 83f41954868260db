from django.db import migrations

KINDS = [
    ("bureau_official", "教育局包保干部", 10),
    ("street_cadre", "街道（乡镇）干部", 20),
    ("community_cadre", "社区（村）干部", 30),
    ("school_head", "学校负责人", 40),
]


def seed(apps, schema_editor):
    Kind = apps.get_model("territory", "ResponsiblePartyKind")
    for code, name, order in KINDS:
        Kind.objects.get_or_create(code=code, defaults={"name": name, "sort_order": order})


class Migration(migrations.Migration):
    dependencies = [("territory", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
