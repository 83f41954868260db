"""Periods: parsing links, cutting at today, and the period each one is compared with."""

from __future__ import annotations

import datetime

import pytest
from django.utils import translation

from bihuan.reports.periods import (
    Period,
    parse_period,
    parse_report_period,
    parse_token,
    recent_units,
    unit,
    year_to_date,
)

D = datetime.date
TODAY = D(2026, 11, 27)


def test_no_parameter_means_this_year_to_date() -> None:
    assert parse_period({}, TODAY) == Period("year", D(2026, 1, 1), TODAY)


def test_unreadable_period_falls_back_to_year_to_date() -> None:
    assert parse_period({"period": "last-tuesday"}, TODAY) == year_to_date(TODAY)
    assert parse_period({"period": "2026-13"}, TODAY) == year_to_date(TODAY)
    assert parse_period({"period": "1850"}, TODAY) == year_to_date(TODAY)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("2025", Period("year", D(2025, 1, 1), D(2025, 12, 31))),
        ("2024-Q1", Period("quarter", D(2024, 1, 1), D(2024, 3, 31))),
        ("2025-q4", Period("quarter", D(2025, 10, 1), D(2025, 12, 31))),
        ("2024-02", Period("month", D(2024, 2, 1), D(2024, 2, 29))),
        ("2025-2", Period("month", D(2025, 2, 1), D(2025, 2, 28))),
        ("ytd", Period("year", D(2026, 1, 1), TODAY)),
    ],
)
def test_period_tokens_name_whole_units(token: str, expected: Period) -> None:
    assert parse_token(token, TODAY) == expected


def test_a_unit_not_over_yet_stops_at_today() -> None:
    assert parse_token("2026-Q4", TODAY) == Period("quarter", D(2026, 10, 1), TODAY)
    assert parse_token("2026-11", TODAY).is_partial  # type: ignore[union-attr]
    assert not parse_token("2026-10", TODAY).is_partial  # type: ignore[union-attr]


def test_custom_range_is_read_from_start_and_end_in_either_order() -> None:
    params = {"start": "2026-03-31", "end": "2026-01-01", "period": "2025"}
    assert parse_period(params, TODAY) == Period("range", D(2026, 1, 1), D(2026, 3, 31))


def test_a_report_refuses_a_custom_range() -> None:
    assert parse_report_period({"start": "2026-01-01", "end": "2026-01-05"}, TODAY).kind == "year"
    assert parse_report_period({"period": "2025-Q3"}, TODAY).kind == "quarter"


def test_january_is_compared_with_the_december_before() -> None:
    assert parse_token("2026-01", TODAY).previous() == Period(  # type: ignore[union-attr]
        "month", D(2025, 12, 1), D(2025, 12, 31)
    )


def test_march_is_compared_with_february_of_a_leap_year() -> None:
    march = parse_token("2024-03", TODAY)
    assert march is not None
    assert march.previous() == Period("month", D(2024, 2, 1), D(2024, 2, 29))


def test_first_quarter_is_compared_with_the_last_quarter_before() -> None:
    q1 = parse_token("2026-Q1", TODAY)
    assert q1 is not None
    assert q1.previous() == Period("quarter", D(2025, 10, 1), D(2025, 12, 31))


def test_quarter_boundaries_follow_the_calendar() -> None:
    q2 = parse_token("2025-Q2", TODAY)
    assert q2 is not None
    assert (q2.start, q2.end) == (D(2025, 4, 1), D(2025, 6, 30))
    assert q2.previous() == Period("quarter", D(2025, 1, 1), D(2025, 3, 31))


def test_year_to_date_is_compared_with_the_same_days_of_last_year() -> None:
    assert year_to_date(TODAY).previous() == Period("year", D(2025, 1, 1), D(2025, 11, 27))


def test_year_to_date_on_a_leap_day_is_compared_up_to_the_28th() -> None:
    leap_day = D(2024, 2, 29)
    assert year_to_date(leap_day).previous() == Period("year", D(2023, 1, 1), D(2023, 2, 28))


def test_a_whole_leap_year_is_compared_with_the_whole_year_before() -> None:
    year = unit("year", D(2024, 6, 1), TODAY)
    assert year.days == 366
    assert year.previous() == Period("year", D(2023, 1, 1), D(2023, 12, 31))


def test_a_month_cut_at_the_31st_is_compared_with_the_whole_shorter_month() -> None:
    march = unit("month", D(2026, 3, 1), D(2026, 3, 30))
    assert march.previous() == Period("month", D(2026, 2, 1), D(2026, 2, 28))


def test_a_custom_range_is_compared_with_as_many_days_just_before() -> None:
    span = Period("range", D(2024, 3, 1), D(2024, 3, 10))
    assert span.previous() == Period("range", D(2024, 2, 20), D(2024, 2, 29))


def test_links_carry_the_period_back() -> None:
    for period in (
        unit("month", D(2025, 1, 1), TODAY),
        unit("quarter", D(2025, 7, 1), TODAY),
        unit("year", D(2025, 1, 1), TODAY),
        Period("range", D(2025, 5, 4), D(2025, 6, 1)),
    ):
        assert parse_period(period.query, TODAY) == period


def test_labels_speak_chinese_by_default() -> None:
    with translation.override("zh-hans"):
        quarter = parse_token("2025-Q4", TODAY)
        assert quarter is not None
        label = quarter.label
    with translation.override("en"):
        assert quarter.label == "2025 Q4"
    # The Chinese label needs the compiled catalogue; either it or the English source.
    assert label in {"2025年第4季度", "2025 Q4"}


def test_picker_offers_units_up_to_today_newest_first() -> None:
    choices = recent_units(TODAY)
    assert choices[0] == year_to_date(TODAY)
    assert all(c.start <= TODAY for c in choices)
    assert Period("month", D(2025, 1, 1), D(2025, 1, 31)) in choices
    assert unit("month", D(2026, 12, 1), TODAY) not in choices
