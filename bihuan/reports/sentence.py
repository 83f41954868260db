"""The article's sentence, filled from the figures: the first line of every report.

"今年以来，出动检查人员X人次，摸排机构Y家，反馈线索Z条，查处隐形变异学科培训N次，清退培训费用M万元。"

The sentence is the report's content in the form the bureau publishes it (the article quotes it
word for word), so it is written in Chinese whatever the interface language; pages label it in
the user's language. Money is fen in the database and 万元 here, with up to two decimals and no
trailing zeros (1,700,000 元 is "170万元", 12,345 元 is "1.23万元"). A department's slice has no
institutions screened (screening is not a department's work), so that clause is left out.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal

from bihuan.reports.figures import Headline
from bihuan.reports.periods import Period

FEN_PER_WAN = 1_000_000  # 1 万元 = 10,000 元 = 1,000,000 fen


def wan_yuan(fen: int) -> str:
    """An amount in fen as 万元: "170", "1.7", "0.35" (two decimals at most, rounded half up)."""
    wan = (Decimal(fen) / FEN_PER_WAN).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{wan:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def yuan(fen: int) -> str:
    """An amount in fen as 元 with two decimals and thousands separators: "1,700,000.00"."""
    return f"{Decimal(fen) / 100:,.2f}"


def _md(day: datetime.date) -> str:
    return f"{day.month}月{day.day}日"


def opening(period: Period, today: datetime.date) -> str:
    """How the sentence starts: "今年以来" for this year, "2025年", "2026年第4季度", "2026年1月"…"""
    year = period.start.year
    if period.kind == "year":
        return "今年以来" if year == today.year else f"{year}年"
    if period.kind == "quarter":
        return f"{year}年第{period.quarter}季度"
    if period.kind == "month":
        return f"{year}年{period.start.month}月"
    if period.start.year == period.end.year:
        return f"{year}年{_md(period.start)}至{_md(period.end)}"
    return f"{year}年{_md(period.start)}至{period.end.year}年{_md(period.end)}"


def article_sentence(figures: Headline, period: Period, today: datetime.date) -> str:
    """The article's sentence for these figures and this period."""
    clauses = [f"出动检查人员{figures.person_times}人次"]
    if figures.institutions is not None:
        clauses.append(f"摸排机构{figures.institutions}家")
    clauses += [
        f"反馈线索{figures.leads}条",
        f"查处隐形变异学科培训{figures.disguised_cases}次",
        f"清退培训费用{wan_yuan(figures.refunds_fen)}万元",
    ]
    return f"{opening(period, today)}，{'，'.join(clauses)}。"
