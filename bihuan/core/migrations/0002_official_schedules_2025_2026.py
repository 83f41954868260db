"""The State Council's published holiday schedules for 2025 and 2026, as official calendar rows.

2025: 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12).
2026: 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04).
Holiday ranges are kept whole, weekend days included, so each row reads as the notice does.
"""

from datetime import date, timedelta

from django.db import migrations

# (name, first day, last day) of each holiday period; (name, day) of each make-up working day.
HOLIDAYS = [
    ("元旦", date(2025, 1, 1), date(2025, 1, 1)),
    ("春节", date(2025, 1, 28), date(2025, 2, 4)),
    ("清明节", date(2025, 4, 4), date(2025, 4, 6)),
    ("劳动节", date(2025, 5, 1), date(2025, 5, 5)),
    ("端午节", date(2025, 5, 31), date(2025, 6, 2)),
    ("国庆节、中秋节", date(2025, 10, 1), date(2025, 10, 8)),
    ("元旦", date(2026, 1, 1), date(2026, 1, 3)),
    ("春节", date(2026, 2, 15), date(2026, 2, 23)),
    ("清明节", date(2026, 4, 4), date(2026, 4, 6)),
    ("劳动节", date(2026, 5, 1), date(2026, 5, 5)),
    ("端午节", date(2026, 6, 19), date(2026, 6, 21)),
    ("中秋节", date(2026, 9, 25), date(2026, 9, 27)),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 7)),
]
MAKE_UP_DAYS = [
    ("春节调休上班", date(2025, 1, 26)),
    ("春节调休上班", date(2025, 2, 8)),
    ("劳动节调休上班", date(2025, 4, 27)),
    ("国庆节、中秋节调休上班", date(2025, 9, 28)),
    ("国庆节、中秋节调休上班", date(2025, 10, 11)),
    ("元旦调休上班", date(2026, 1, 4)),
    ("春节调休上班", date(2026, 2, 14)),
    ("春节调休上班", date(2026, 2, 28)),
    ("劳动节调休上班", date(2026, 5, 9)),
    ("国庆节调休上班", date(2026, 9, 20)),
    ("国庆节调休上班", date(2026, 10, 10)),
]


def rows():
    for name, first, last in HOLIDAYS:
        day = first
        while day <= last:
            yield day, False, name
            day += timedelta(days=1)
    for name, day in MAKE_UP_DAYS:
        yield day, True, name


def seed(apps, schema_editor):
    CalendarDay = apps.get_model("core", "CalendarDay")
    taken = set(CalendarDay.objects.filter(is_active=True).values_list("date", flat=True))
    CalendarDay.objects.bulk_create(
        CalendarDay(date=day, is_workday=is_workday, name=name, is_official=True)
        for day, is_workday, name in rows()
        if day not in taken
    )


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    # Nothing is hard-deleted: unapplying leaves the rows (0001's reversal drops the table anyway).
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
