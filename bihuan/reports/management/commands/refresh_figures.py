"""manage.py refresh_figures: fold recent changes into the figures' rollups, or rebuild them all."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bihuan.reports import rollups


class Command(BaseCommand):
    help = (
        "Rebuild the rollups behind the five headline figures for the days changed since the last "
        "run (what the scheduled job refresh_figures does every few minutes). With --all, "
        "rebuild every day that holds a record: needed after moving a region in the territory "
        "tree or after writing records in bulk without events (generators, migrations of old "
        "data). The figures stay right meanwhile: days not yet folded in are counted live."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            dest="full",
            help="Rebuild the rollups of every day that holds a record, not only the changed ones.",
        )

    def handle(self, *args: Any, full: bool = False, **options: Any) -> None:
        days, rows = rollups.refresh(full=full)
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {days} day(s): {rows} rollup row(s)."))
