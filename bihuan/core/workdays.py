"""Working days on China's official calendar: the one clock every deadline is counted on.

Weekends are rest days, except the make-up working days (调休) of the State Council's yearly
notice; public holidays are rest days whatever the weekday. The exceptions live in CalendarDay
rows. No library is used (``chinesecalendar`` exists) because the schedule must be editable by
the system administrator at run time, with an audit trail, the day the notice is published.

The active rows are read once and kept in-process: for 2000–2100 as a sorted array of
working-day ordinals, so a deadline is one binary search, not a walk through the days. The copy
is dropped when a service changes the calendar (in this process, at once and again at commit)
and re-read at most ``CACHE_SECONDS`` later in every other process.
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as clock
from zoneinfo import ZoneInfo

from bihuan.core.models import CalendarDay

# The official calendar is China's whatever the display settings: days change at Beijing midnight.
CHINA = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
# How stale another process's copy may be after a change made elsewhere.
CACHE_SECONDS = 60.0

_FIRST = FIRST_DAY.toordinal()
_LAST = LAST_DAY.toordinal()


def _weekday_rule(ordinal: int) -> bool:
    # date.fromordinal(1) is a Monday, so this is date.weekday() < 5 without building a date.
    return (ordinal - 1) % 7 < 5


@dataclass(frozen=True)
class _Calendar:
    exceptions: dict[int, bool]  # ordinal → is a working day
    official_years: frozenset[int]
    workdays: array[int]  # ordinals of the working days from FIRST_DAY to LAST_DAY, ascending
    loaded_at: float

    def is_workday(self, ordinal: int) -> bool:
        return self.exceptions.get(ordinal, _weekday_rule(ordinal))


_cache: _Calendar | None = None
_lock = threading.Lock()


def _load() -> _Calendar:
    exceptions: dict[int, bool] = {}
    years: set[int] = set()
    rows = CalendarDay.objects.filter(is_active=True).values_list(
        "date", "is_workday", "is_official"
    )
    for day, is_workday, is_official in rows:
        exceptions[day.toordinal()] = is_workday
        if is_official:
            years.add(day.year)
    workdays = array(
        "l",
        (o for o in range(_FIRST, _LAST + 1) if exceptions.get(o, _weekday_rule(o))),
    )
    return _Calendar(exceptions, frozenset(years), workdays, time.monotonic())


def _calendar() -> _Calendar:
    global _cache
    cached = _cache
    if cached is not None and time.monotonic() - cached.loaded_at < CACHE_SECONDS:
        return cached
    with _lock:
        cached = _cache
        if cached is None or time.monotonic() - cached.loaded_at >= CACHE_SECONDS:
            cached = _cache = _load()
    return cached


def calendar_forget() -> None:
    """Drop this process's copy of the calendar, so the next question reads the rows again."""
    global _cache
    _cache = None


def _local_ordinal(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(CHINA).date().toordinal()


def _end_of(ordinal: int) -> datetime:
    return datetime.combine(date.fromordinal(ordinal), clock.max, tzinfo=CHINA)


def is_workday(day: date) -> bool:
    """Is this date a working day on the official calendar?"""
    return _calendar().is_workday(day.toordinal())


def add_working_days(start: datetime, days: int) -> datetime:
    """The end (Beijing time) of the ``days``-th working day after ``start``'s local date.

    The start day itself does not count; with ``days=0`` the deadline is the end of the start day
    if it is a working day, else of the next working day.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    calendar = _calendar()
    ordinal = _local_ordinal(start)
    if _FIRST <= ordinal <= _LAST:
        workdays = calendar.workdays
        index = bisect_left(workdays, ordinal) if days == 0 else bisect_right(workdays, ordinal)
        index += max(days - 1, 0)
        if index < len(workdays):
            return _end_of(workdays[index])
    # Outside the table (or running past its end): walk day by day.
    if days == 0:
        while not calendar.is_workday(ordinal):
            ordinal += 1
        return _end_of(ordinal)
    while days:
        ordinal += 1
        if calendar.is_workday(ordinal):
            days -= 1
    return _end_of(ordinal)


def working_days_between(start: datetime, end: datetime) -> int:
    """Working days after ``start``'s local date, up to and including ``end``'s (0 if none)."""
    if end <= start:
        return 0
    calendar = _calendar()
    first, last = _local_ordinal(start), _local_ordinal(end)
    if first >= _FIRST - 1 and last <= _LAST:
        workdays = calendar.workdays
        return bisect_right(workdays, last) - bisect_right(workdays, first)
    return sum(1 for o in range(first + 1, last + 1) if calendar.is_workday(o))


def working_days_in(first: date, last: date) -> int:
    """Working days from ``first`` to ``last``, both included (0 if last is before first)."""
    return working_days_between(_end_of(first.toordinal() - 1), _end_of(last.toordinal()))


def known_years() -> set[int]:
    """Years with at least one active official row (a missing one means only weekends rest)."""
    return set(_calendar().official_years)
