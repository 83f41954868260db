"""manage.py check_figures: recount the figures from the records and compare with the rollups."""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from bihuan.accounts.models import Department
from bihuan.reports import rollups
from bihuan.reports.scope import FigureScope
from bihuan.territory.models import Area, Region


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _months(
    since: datetime.date, today: datetime.date
) -> list[tuple[datetime.date, datetime.date]]:
    periods = []
    first = since.replace(day=1)
    while first <= today:
        start, end = rollups.unit_bounds("m", first)
        periods.append((max(start, since), end))
        first = end + datetime.timedelta(days=1)
    return periods


class Command(BaseCommand):
    help = (
        "Recount the five headline figures from the records and compare them with the rollups: "
        "every stored rollup row (per metric, slice and day) against the same row computed "
        "afresh, then the headline of the region (default: every top-level region), each region "
        "one level below, their areas and every department, for each month and year to date, "
        "against a straight recount. Refreshes the rollups first (folding the changes since the "
        "last run) unless --no-refresh. Prints one line per difference; exits with status 1 when "
        "there is any, 0 when the rollups agree."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--since",
            type=_date,
            default=None,
            help="Compare from this day (YYYY-MM-DD); default: the first day with records.",
        )
        parser.add_argument(
            "--region",
            default=None,
            help="Division code of a region: compare only its subtree's slices.",
        )
        parser.add_argument(
            "--no-refresh",
            action="store_true",
            help="Compare the rollups as they stand, without folding recent changes first.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        region = None
        if options["region"]:
            region = Region.objects.filter(code=options["region"]).first()
            if region is None:
                self.stderr.write(f"No region with code {options['region']}.")
                sys.exit(2)
        if not options["no_refresh"]:
            days, rows = rollups.refresh()
            self.stdout.write(f"Refreshed {days} day(s), {rows} row(s).")
        problems = rollups.row_differences(options["since"], region)
        today = timezone.localdate()
        since = options["since"] or min(rollups.record_days(), default=today)
        # Each month, and the year to date (from --since when that is later).
        year_start = max(since, datetime.date(today.year, 1, 1))
        periods = [*_months(since, today), (year_start, today)]
        problems += rollups.headline_differences(self._scopes(region), periods)
        for problem in problems:
            self.stdout.write(str(problem))
        if not problems:
            self.stdout.write(self.style.SUCCESS("The rollups agree with the recount."))
            return
        self.stdout.write(self.style.ERROR(f"{len(problems)} difference(s) found."))
        sys.exit(1)

    def _scopes(self, region: Region | None) -> list[FigureScope]:
        """The region (or the top ones), one level below, their areas, every department."""
        tops = [region] if region else list(Region.objects.filter(depth=min_depth()))
        regions = list(tops)
        for top in tops:
            regions += Region.objects.filter(path__startswith=top.path, depth=top.depth + 1)
        scopes = [FigureScope("region", r.pk, r.name, r.path) for r in regions]
        areas = Area.objects.all()
        if region is not None:
            areas = areas.filter(region__path__startswith=region.path)
        scopes += [FigureScope("area", a.pk, a.name) for a in areas]
        if region is None:
            scopes += [FigureScope("department", d.pk, d.name) for d in Department.objects.all()]
        return scopes


def min_depth() -> int:
    """The depth of the top of the territory tree."""
    top = Region.objects.order_by("depth").values_list("depth", flat=True).first()
    return top or 0
