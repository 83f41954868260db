"""Periods of the figures and reports: a year, quarter, month or custom range of days.

A period is a range of calendar days in Asia/Shanghai, both ends included. Links carry it as one
``period`` parameter — ``ytd``, ``2026``, ``2026-Q4``, ``2026-01`` — or as ``start``/``end`` dates
for a custom range; anything unreadable falls back to this year to date, so an old or hand-edited
link still opens a page. A year, quarter or month that has not ended yet stops at today (the
figures of future days are empty, and a comparison must not set a part against a whole): its
previous period is the same stretch of the unit before (1 January – 27 November against the same
days of last year), and a finished one is compared with the whole unit before. A custom range is
compared with as many days just before it.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from django.utils import timezone
from django.utils.translation import gettext as _

Kind = Literal["year", "quarter", "month", "range"]
UNITS: tuple[Kind, ...] = ("year", "quarter", "month")
# Months in one unit of each kind; a custom range has none.
_MONTHS = {"year": 12, "quarter": 3, "month": 1}
YEAR_TO_DATE = "ytd"
_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
# The years a link may name: wide enough for any record, narrow enough to refuse nonsense.
FIRST_YEAR, LAST_YEAR = 2000, 2100
# A custom range longer than this is cut: ten years is more than any report needs.
MAX_RANGE_DAYS = 3660


def today() -> datetime.date:
    """Today in the project's time zone (Asia/Shanghai)."""
    return timezone.localdate()


def _last_day(year: int, month: int) -> datetime.date:
    return datetime.date(year, month, calendar.monthrange(year, month)[1])


def _shift_months(day: datetime.date, months: int) -> datetime.date:
    """The same day ``months`` later (or earlier), kept inside the month (31 March - 1 = 28 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _unit_start(kind: Kind, day: datetime.date) -> datetime.date:
    if kind == "year":
        return datetime.date(day.year, 1, 1)
    if kind == "quarter":
        return datetime.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return datetime.date(day.year, day.month, 1)


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end``, both included: one year, quarter or month, or a custom range."""

    kind: Kind
    start: datetime.date
    end: datetime.date

    @property
    def unit_end(self) -> datetime.date:
        """The last day of the whole year, quarter or month (``end`` for a range)."""
        if self.kind == "range":
            return self.end
        last = _shift_months(self.start, _MONTHS[self.kind] - 1)
        return _last_day(last.year, last.month)

    @property
    def is_partial(self) -> bool:
        """True for a unit not over yet, cut at today."""
        return self.kind != "range" and self.end < self.unit_end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def quarter(self) -> int:
        return (self.start.month - 1) // 3 + 1

    @property
    def token(self) -> str:
        """The ``period`` parameter naming this unit (a range has none: it uses start and end)."""
        if self.kind == "year":
            return f"{self.start.year}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{self.quarter}"
        if self.kind == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        return ""

    @property
    def query(self) -> dict[str, str]:
        """The query parameters that select this period again."""
        if self.kind == "range":
            return {"start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"period": self.token}

    @property
    def label(self) -> str:
        """How pages name the period: "2026", "2026 Q4", "2026-01", or the range of days."""
        year = self.start.year
        if self.kind == "year":
            name = _("%(year)s") % {"year": year}
        elif self.kind == "quarter":
            name = _("%(year)s Q%(quarter)s") % {"year": year, "quarter": self.quarter}
        elif self.kind == "month":
            name = _("%(month)s/%(year)s") % {"year": year, "month": self.start.month}
        else:
            return _("%(start)s to %(end)s") % {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
            }
        if self.is_partial:
            return _("%(period)s, to %(date)s") % {"period": name, "date": self.end.isoformat()}
        return name

    def previous(self) -> Period:
        """The period to compare with: the unit before (cut the same way), or the days before."""
        if self.kind == "range":
            end = self.start - datetime.timedelta(days=1)
            return Period("range", end - datetime.timedelta(days=self.days - 1), end)
        months = _MONTHS[self.kind]
        start = _shift_months(self.start, -months)
        whole = Period(self.kind, start, self.start - datetime.timedelta(days=1))
        if not self.is_partial:
            return whole
        return Period(self.kind, start, min(_shift_months(self.end, -months), whole.end))


def unit(kind: Kind, day: datetime.date, until: datetime.date | None = None) -> Period:
    """The year, quarter or month holding ``day``, cut at ``until`` (default: today) if later."""
    start = _unit_start(kind, day)
    whole = Period(kind, start, start)
    end = whole.unit_end
    until = until or today()
    if start <= until < end:
        end = until
    return Period(kind, start, end)


def year_to_date(until: datetime.date | None = None) -> Period:
    """This year from 1 January to today: the default of every figures page."""
    return unit("year", until or today(), until)


def parse_token(token: str, until: datetime.date | None = None) -> Period | None:
    """The unit a ``period`` parameter names (``ytd``, ``2026``, ``2026-Q4``, ``2026-01``)."""
    token = token.strip()
    if token == YEAR_TO_DATE:
        return year_to_date(until)
    for pattern, kind in ((_YEAR, "year"), (_QUARTER, "quarter"), (_MONTH, "month")):
        match = pattern.match(token)
        if not match:
            continue
        year = int(match.group(1))
        number = int(match.group(2)) if kind != "year" else 1
        if not FIRST_YEAR <= year <= LAST_YEAR:
            return None
        if kind == "quarter":
            month = (number - 1) * 3 + 1
        elif kind == "month":
            if not 1 <= number <= 12:
                return None
            month = number
        else:
            month = 1
        return unit(kind, datetime.date(year, month, 1), until)  # type: ignore[arg-type]
    return None


def _date(text: str | None) -> datetime.date | None:
    try:
        day = datetime.date.fromisoformat((text or "").strip())
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def parse_period(params: Mapping[str, str], until: datetime.date | None = None) -> Period:
    """The period a query string asks for; this year to date when it asks for none it can read."""
    start, end = _date(params.get("start")), _date(params.get("end"))
    if start and end:
        if end < start:
            start, end = end, start
        end = min(end, start + datetime.timedelta(days=MAX_RANGE_DAYS - 1))
        return Period("range", start, end)
    return parse_token(params.get("period", ""), until) or year_to_date(until)


def parse_report_period(params: Mapping[str, str], until: datetime.date | None = None) -> Period:
    """A report's period: a year, quarter or month only (a custom range is the figures page's)."""
    found = parse_token(params.get("period", ""), until)
    return found if found is not None and found.kind in UNITS else year_to_date(until)


def recent_units(until: datetime.date | None = None, years: int = 2) -> list[Period]:
    """Years, quarters and months to offer in a picker, newest first, from ``years`` years back."""
    until = until or today()
    choices: list[Period] = []
    for year in range(until.year, until.year - years, -1):
        choices.append(unit("year", datetime.date(year, 1, 1), until))
        for quarter in range(4, 0, -1):
            first = datetime.date(year, (quarter - 1) * 3 + 1, 1)
            if first <= until:
                choices.append(unit("quarter", first, until))
        for month in range(12, 0, -1):
            first = datetime.date(year, month, 1)
            if first <= until:
                choices.append(unit("month", first, until))
    return choices
