"""Working days on the official calendar, seeded from the State Council's 2025 and 2026 notices."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bihuan.core import workdays
from bihuan.core.models import CalendarDay
from bihuan.core.workdays import (
    CHINA,
    add_working_days,
    calendar_forget,
    is_workday,
    known_years,
    working_days_between,
    working_days_in,
)

pytestmark = pytest.mark.django_db


def _at(day: str, hour: int = 10) -> datetime:
    """A moment on a Beijing-time date."""
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=CHINA)


def _end(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(23, 59, 59, 999999), tzinfo=CHINA)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-02-13", True),  # Friday before 春节
        ("2026-02-14", True),  # Saturday, make-up working day
        ("2026-02-16", False),  # Monday in 春节
        ("2026-02-21", False),  # Saturday in 春节
        ("2026-02-28", True),  # Saturday, make-up working day
        ("2026-03-07", False),  # plain Saturday
        ("2026-03-09", True),  # plain Monday
        ("2025-09-28", True),  # Sunday, make-up working day for 国庆
        ("2025-10-08", False),  # Wednesday, last day of 国庆、中秋 2025
        ("2027-01-01", True),  # no 2027 schedule yet: a Friday is a working day
    ],
)
def test_is_workday_follows_the_official_calendar(day: str, expected: bool) -> None:
    assert is_workday(date.fromisoformat(day)) is expected


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        # 春节 2026: 2-15..2-23 off, Saturdays 2-14 and 2-28 worked.
        ("2026-02-13", 1, "2026-02-14"),
        ("2026-02-13", 2, "2026-02-24"),
        ("2026-02-14", 1, "2026-02-24"),
        ("2026-02-20", 1, "2026-02-24"),
        ("2026-02-24", 4, "2026-02-28"),
        ("2026-02-24", 5, "2026-03-02"),
        # 国庆、中秋 2025: 10-01..10-08 off, Sunday 9-28 and Saturday 10-11 worked.
        ("2025-09-26", 1, "2025-09-28"),
        ("2025-09-30", 1, "2025-10-09"),
        ("2025-09-30", 3, "2025-10-11"),
        ("2025-09-30", 4, "2025-10-13"),
        # Sunday make-up days: 2026-01-04 (元旦) and 2026-09-20 (国庆).
        ("2026-01-02", 1, "2026-01-04"),
        ("2026-09-18", 1, "2026-09-20"),
        # Across year ends.
        ("2024-12-31", 1, "2025-01-02"),
        ("2025-12-31", 1, "2026-01-04"),
        ("2026-12-31", 1, "2027-01-01"),
        ("2026-12-31", 2, "2027-01-04"),
        # days=0: the start day if it is a working day, else the next one.
        ("2026-03-09", 0, "2026-03-09"),
        ("2026-02-14", 0, "2026-02-14"),
        ("2026-03-07", 0, "2026-03-09"),
        ("2026-02-15", 0, "2026-02-24"),
        ("2025-12-31", 0, "2025-12-31"),
        ("2026-01-01", 0, "2026-01-04"),
    ],
)
def test_add_working_days_ends_at_the_end_of_the_nth_working_day(
    start: str, days: int, expected: str
) -> None:
    assert add_working_days(_at(start), days) == _end(expected)


def test_deadline_is_an_aware_end_of_day_in_beijing_time() -> None:
    deadline = add_working_days(_at("2026-03-09"), 1)
    assert deadline.utcoffset() == timedelta(hours=8)
    assert (deadline.hour, deadline.minute, deadline.second, deadline.microsecond) == (
        23,
        59,
        59,
        999999,
    )


def test_start_counts_by_its_beijing_date_not_its_utc_date() -> None:
    # 2026-02-13 20:00 UTC is already Saturday 2026-02-14 (a make-up day) in Beijing.
    start = datetime(2026, 2, 13, 20, 0, tzinfo=UTC)
    assert add_working_days(start, 1) == _end("2026-02-24")
    assert add_working_days(start, 0) == _end("2026-02-14")


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(_at("2026-03-09"), -1)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(datetime(2026, 3, 9, 10), 1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-02-13", "2026-02-24", 2),
        ("2026-02-13", "2026-02-23", 1),
        ("2025-09-30", "2025-10-13", 4),
        ("2025-12-31", "2026-01-04", 1),
        ("2026-03-09", "2026-03-09", 0),
        ("2026-03-09", "2026-03-06", 0),
    ],
)
def test_working_days_between_counts_after_start_up_to_end(
    start: str, end: str, expected: int
) -> None:
    assert working_days_between(_at(start, 9), _at(end, 18)) == expected


def test_working_days_between_is_zero_when_end_is_not_after_start() -> None:
    assert working_days_between(_at("2026-03-10"), _at("2026-03-09")) == 0
    assert working_days_between(_at("2026-03-10"), _at("2026-03-10")) == 0


def test_working_days_in_a_month_counts_both_ends() -> None:
    # February 2026: 20 weekdays, 6 of them in 春节, plus two make-up Saturdays.
    assert working_days_in(date(2026, 2, 1), date(2026, 2, 28)) == 16
    assert working_days_in(date(2026, 3, 9), date(2026, 3, 9)) == 1


def test_known_years_are_those_with_an_official_schedule() -> None:
    assert known_years() == {2025, 2026}


def test_known_years_ignore_local_and_withdrawn_rows() -> None:
    CalendarDay.objects.create(date=date(2027, 3, 1), is_workday=False, name="本地调整")
    CalendarDay.objects.create(
        date=date(2028, 3, 1), is_workday=False, name="撤回", is_official=True, is_active=False
    )
    calendar_forget()
    assert known_years() == {2025, 2026}


def _walk(start: date, days: int) -> date:
    """The definition, day by day, to check the binary search against."""
    day = start
    if days == 0:
        while not is_workday(day):
            day += timedelta(days=1)
        return day
    while days:
        day += timedelta(days=1)
        if is_workday(day):
            days -= 1
    return day


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.dates(min_value=date(1999, 12, 1), max_value=date(2101, 1, 31)),
    days=st.integers(min_value=0, max_value=40),
)
def test_add_working_days_agrees_with_walking_the_days(start: date, days: int) -> None:
    # Covers both sides of the precomputed 2000–2100 table as well as inside it.
    moment = datetime.combine(start, time(12), tzinfo=CHINA)
    deadline = add_working_days(moment, days)
    assert deadline.date() == _walk(start, days)
    if days:
        assert working_days_between(moment, deadline) == days


def test_a_hundred_thousand_deadlines_read_the_calendar_once(
    django_assert_num_queries: pytest.FixtureRequest,
) -> None:
    start = _at("2025-01-01")
    with django_assert_num_queries(1):  # type: ignore[operator]
        for i in range(100_000):
            moment = start + timedelta(hours=i % 17_000)
            deadline = add_working_days(moment, i % 30)
            working_days_between(moment, deadline)
            is_workday(deadline.date())


def test_another_process_sees_a_change_once_its_copy_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert is_workday(date(2026, 3, 9))
    # Written elsewhere: this process's copy knows nothing of it until it expires.
    CalendarDay.objects.create(date=date(2026, 3, 9), is_workday=False, name="临时")
    assert is_workday(date(2026, 3, 9))
    monkeypatch.setattr(workdays, "CACHE_SECONDS", 0.0)
    assert not is_workday(date(2026, 3, 9))
