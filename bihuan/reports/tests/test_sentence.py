"""The article's sentence, filled from the figures."""

from __future__ import annotations

import datetime

import pytest

from bihuan.reports.figures import Headline
from bihuan.reports.periods import Period, parse_token
from bihuan.reports.sentence import article_sentence, opening, wan_yuan, yuan

D = datetime.date
TODAY = D(2026, 11, 27)


ARTICLE = Headline(
    person_times=1198,
    institutions=470,
    visits=512,
    leads=69,
    disguised_cases=26,
    refunds_fen=170_000_000,  # 1,700,000 元
)


def _period(token: str) -> Period:
    found = parse_token(token, TODAY)
    assert found is not None
    return found


def test_the_articles_figures_give_the_articles_sentence() -> None:
    assert article_sentence(ARTICLE, _period("ytd"), TODAY) == (
        "今年以来，出动检查人员1198人次，摸排机构470家，反馈线索69条，"
        "查处隐形变异学科培训26次，清退培训费用170万元。"
    )


def test_a_past_year_opens_with_its_number() -> None:
    assert article_sentence(ARTICLE, _period("2025"), TODAY).startswith("2025年，出动检查人员")


@pytest.mark.parametrize(
    ("token", "expected"),
    [("2026-Q4", "2026年第4季度"), ("2026-01", "2026年1月"), ("2026", "今年以来")],
)
def test_quarters_and_months_open_with_their_name(token: str, expected: str) -> None:
    assert opening(_period(token), TODAY) == expected


def test_a_custom_range_opens_with_its_days() -> None:
    assert opening(Period("range", D(2026, 1, 1), D(2026, 3, 31)), TODAY) == "2026年1月1日至3月31日"
    assert (
        opening(Period("range", D(2025, 12, 1), D(2026, 1, 31)), TODAY)
        == "2025年12月1日至2026年1月31日"
    )


@pytest.mark.parametrize(
    ("fen", "expected"),
    [
        (170_000_000, "170"),  # 1,700,000 元
        (17_000_000, "17"),
        (1_700_000, "1.7"),
        (1_234_500, "1.23"),  # 12,345 元, rounded half up
        (1_235_000, "1.24"),
        (350_000, "0.35"),
        (0, "0"),
        (4_999, "0"),  # 49.99 元 is less than half a hundredth of 万元
        (5_000, "0.01"),
    ],
)
def test_money_is_shown_in_wan_yuan_with_at_most_two_decimals(fen: int, expected: str) -> None:
    assert wan_yuan(fen) == expected


def test_yuan_keeps_fen_and_groups_thousands() -> None:
    assert yuan(170_000_012) == "1,700,000.12"


def test_a_department_slice_leaves_institutions_out() -> None:
    figures = Headline(12, None, None, 3, 1, 50_000_000)
    text = article_sentence(figures, _period("2025-Q3"), TODAY)
    assert text == (
        "2025年第3季度，出动检查人员12人次，反馈线索3条，查处隐形变异学科培训1次，清退培训费用50万元。"
    )
