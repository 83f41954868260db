"""The loop's health, computed from a hand-built autumn of 2026 with known outcomes.

The story runs through the real services at frozen times, across the National Day holiday
(1–7 October, with Saturday 10 October a make-up working day), so every deadline is the one the
services set on the official calendar. Expected numbers are worked out by hand in the comments.

* A (Tue 29 Sep): both sign and reply on time; closed Mon 12 Oct → 5 working days
  (30 Sep, 8, 9, 10 (Sat, make-up), 12 Oct; 9 on a plain weekday count).
* B (Fri 9 Oct): signing due Sat 10 Oct (make-up day). Market signs that Saturday (on time) and
  gets 3 more days approved (reply due 16 → 21 Oct), replies 20 Oct (on time). Education signs
  Mon 12 Oct (late), replies 16 Oct, is sent back for redo 19 Oct (due 26 Oct) and replies
  27 Oct (late). Closed Wed 28 Oct → 14 working days.
* C (Mon 2 Nov): market returns it in time, is refused, returns it again on 4 Nov after its
  signing deadline (3 Nov) and the bureau reassigns it to the city police, who never sign
  (due 5 Nov). Education signs 3 Nov (on time) and never replies (due 10 Nov).
* E (Mon 9 Nov): everything the same morning; closed the day it came in → 0 working days.
* F (Mon 2 Nov, 孝昌县): city departments, never signed.
* G (Thu 20 Aug, before the period): never signed, so overdue now but not counted.

The period is 1 Sep – 30 Nov 2026, "now" is 20 Nov 2026 12:00.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from freezegun import freeze_time

from bihuan.accounts.models import Department, User
from bihuan.demo import data
from bihuan.leads import services
from bihuan.leads.models import Lead, WorkOrder
from bihuan.leads.tests import factories as lf
from bihuan.leads.workflow import ClosureReason
from bihuan.reports.health import (
    HealthRow,
    leads_closed,
    loop_health,
    nearest_rank,
    orders_counted,
    orders_overdue_now,
    sort_rows,
)
from bihuan.reports.scope import FigureScope
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db

LOCAL = datetime.timezone(datetime.timedelta(hours=8))
START, END = datetime.date(2026, 9, 1), datetime.date(2026, 11, 30)
XIAOCHANG = "420921"
T = TypeVar("T")


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, month, day, hour, minute, tzinfo=LOCAL)


NOW = at(11, 20, 12)


def when(moment: datetime.datetime, action: Callable[..., T], **kwargs: Any) -> T:
    with freeze_time(moment):
        return action(**kwargs)


def _user(name: str) -> User:
    return User.objects.get(username=name)


def _story() -> dict[str, Lead]:
    sup, edu, market = _user("supervisor"), _user("xnjiaoyu"), _user("xnmarket")
    edu_name, market_name = lf.EDUCATION_XIAONAN, lf.MARKET_XIAONAN

    def dispatched(moment: datetime.datetime, name: str, code: str = data.WENCHANG) -> Lead:
        return when(
            moment, lf.lead_dispatched, supervisor=sup, place_name=name, region=lf.region(code)
        )

    def sign(moment: datetime.datetime, lead: Lead, dept: str, actor: User) -> WorkOrder:
        return when(moment, services.work_order_sign, actor=actor, order=lf.order_of(lead, dept))

    def reply(moment: datetime.datetime, lead: Lead, dept: str, actor: User) -> WorkOrder:
        order = lf.order_of(lead, dept)
        return when(moment, services.work_order_reply, actor=actor, order=order, reply="已处理")

    def accept_and_close(
        accepted: datetime.datetime, closed: datetime.datetime, lead: Lead
    ) -> Lead:
        for dept in (edu_name, market_name):
            when(accepted, services.work_order_accept, actor=sup, order=lf.order_of(lead, dept))
        lead.refresh_from_db()
        return when(
            closed, services.lead_close, actor=sup, lead=lead, reason=ClosureReason.RECTIFIED
        )

    g = dispatched(at(8, 20), "G 八月的线索")

    a = dispatched(at(9, 29), "A 国庆前的线索")
    sign(at(9, 29, 11), a, edu_name, edu)
    sign(at(9, 30, 9), a, market_name, market)
    reply(at(10, 9), a, edu_name, edu)
    reply(at(10, 9), a, market_name, market)
    accept_and_close(at(10, 9, 11), at(10, 12), a)

    b = dispatched(at(10, 9), "B 调休日的线索")
    sign(at(10, 10, 9), b, market_name, market)
    sign(at(10, 12, 9), b, edu_name, edu)
    request = when(
        at(10, 15),
        services.extension_request,
        actor=market,
        order=lf.order_of(b, market_name),
        days=3,
        reason="需要调取银行流水",
    )
    when(at(10, 15, 11), services.extension_decide, actor=sup, request=request, approve=True)
    reply(at(10, 16), b, edu_name, edu)
    when(
        at(10, 19),
        services.work_order_redo,
        actor=sup,
        order=lf.order_of(b, edu_name),
        reason="未附现场照片",
    )
    reply(at(10, 20), b, market_name, market)
    reply(at(10, 27), b, edu_name, edu)
    accept_and_close(at(10, 27, 11), at(10, 28), b)

    c = dispatched(at(11, 2), "C 退单的线索")
    police_city = lf.department(lf.POLICE_CITY)
    when(
        at(11, 2, 11),
        services.work_order_return,
        actor=market,
        order=lf.order_of(c, market_name),
        proposed_department=police_city,
        reason="涉嫌诈骗",
    )
    when(
        at(11, 2, 12),
        services.work_order_refuse_return,
        actor=sup,
        order=lf.order_of(c, market_name),
        note="属于市场监管职责",
    )
    sign(at(11, 3, 9), c, edu_name, edu)
    when(
        at(11, 4),
        services.work_order_return,
        actor=market,
        order=lf.order_of(c, market_name),
        proposed_department=police_city,
        reason="再次退单",
    )
    when(
        at(11, 4, 11),
        services.work_order_reassign,
        actor=sup,
        order=lf.order_of(c, market_name),
        department=police_city,
    )
    # The city police now hold the order and never sign it.

    e = dispatched(at(11, 9, 9), "E 当天办结的线索")
    sign(at(11, 9, 9, 30), e, edu_name, edu)
    sign(at(11, 9, 9, 30), e, market_name, market)
    reply(at(11, 9, 10), e, edu_name, edu)
    reply(at(11, 9, 10), e, market_name, market)
    accept_and_close(at(11, 9, 10, 30), at(11, 9, 11), e)

    f = dispatched(at(11, 2), "F 孝昌县的线索", XIAOCHANG)
    return {"a": a, "b": b, "c": c, "e": e, "f": f, "g": g}


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, int]]:
    with lf.city_for_module(django_db_blocker):
        leads = _story()
        yield {key: lead.pk for key, lead in leads.items()}


@pytest.fixture
def story(_city: dict[str, int], db: None) -> dict[str, int]:
    return _city


def _region_scope(code: str) -> FigureScope:
    region = Region.objects.get(code=code)
    return FigureScope("region", region.pk, region.name, region.path)


def _department_scope(short_name: str) -> FigureScope:
    dept = Department.objects.get(short_name=short_name)
    return FigureScope("department", dept.pk, dept.short_name)


def _rows(scope: FigureScope, dimension: Any = "department", **kwargs: Any) -> dict[str, HealthRow]:
    report = loop_health(scope, START, END, dimension, now=NOW, **kwargs)
    return {row.label: row for row in report.rows}


def _counts(row: HealthRow) -> dict[str, Any]:
    return {
        "orders": row.orders,
        "sign": (row.signed_on_time, row.sign_counted),
        "reply": (row.replied_on_time, row.reply_counted),
        "overdue": row.overdue_now,
        "redo": (row.redone, row.replied),
        "extensions": (row.extensions, row.extensions_approved),
        "returns": (row.returns, row.returns_granted),
        "days": sorted(row.days),
    }


EDUCATION = {
    "orders": 4,
    "sign": (3, 4),
    "reply": (2, 4),
    "overdue": 2,
    "redo": (1, 3),
    "extensions": (0, 0),
    "returns": (0, 0),
    "days": [0, 5, 14],
}
MARKET = {
    "orders": 4,
    "sign": (3, 4),
    "reply": (3, 3),
    "overdue": 1,
    "redo": (0, 3),
    "extensions": (1, 1),
    "returns": (2, 1),
    "days": [0, 5, 14],
}
POLICE = {
    "orders": 1,
    "sign": (0, 1),
    "reply": (0, 0),
    "overdue": 1,
    "redo": (0, 0),
    "extensions": (0, 0),
    "returns": (0, 0),
    "days": [],
}


def test_the_services_set_the_deadlines_the_story_relies_on(story: dict[str, int]) -> None:
    b = Lead.objects.get(pk=story["b"])
    orders = {o.department.short_name: o for o in b.work_orders.select_related("department")}
    education, market = orders[lf.EDUCATION_XIAONAN], orders[lf.MARKET_XIAONAN]

    def day(moment: datetime.datetime | None) -> datetime.date | None:
        return moment.astimezone(LOCAL).date() if moment else None

    assert day(education.sign_due) == datetime.date(2026, 10, 10)  # a Saturday, make-up day
    assert day(market.reply_due) == datetime.date(2026, 10, 21)  # 16 Oct + 3 approved
    assert day(education.reply_due) == datetime.date(2026, 10, 26)  # the redo's deadline


def test_each_department_row_has_the_hand_counted_measures(story: dict[str, int]) -> None:
    rows = _rows(_region_scope(data.XIAONAN))
    assert set(rows) == {lf.EDUCATION_XIAONAN, lf.MARKET_XIAONAN, lf.POLICE_CITY}
    assert _counts(rows[lf.EDUCATION_XIAONAN]) == EDUCATION
    assert _counts(rows[lf.MARKET_XIAONAN]) == MARKET
    assert _counts(rows[lf.POLICE_CITY]) == POLICE


def test_rates_are_the_hand_counted_fractions(story: dict[str, int]) -> None:
    rows = _rows(_region_scope(data.XIAONAN))
    education, market, police = (
        rows[lf.EDUCATION_XIAONAN],
        rows[lf.MARKET_XIAONAN],
        rows[lf.POLICE_CITY],
    )
    assert (education.sign_rate, education.reply_rate) == (0.75, 0.5)
    assert education.redo_rate == pytest.approx(1 / 3)
    assert (market.sign_rate, market.reply_rate, market.redo_rate) == (0.75, 1.0, 0.0)
    assert (police.sign_rate, police.reply_rate, police.redo_rate) == (0.0, None, None)
    assert education.sign_percent == "75.0%"
    assert police.reply_percent == "—"


def test_working_days_to_close_follow_the_official_calendar(story: dict[str, int]) -> None:
    rows = _rows(_region_scope(data.XIAONAN))
    education = rows[lf.EDUCATION_XIAONAN]
    assert education.days_mean == pytest.approx(19 / 3)
    # Nearest rank: ⌈0.9 × 3⌉ = 3rd smallest; interpolation would give 12.2.
    assert education.days_p90 == 14
    assert rows[lf.POLICE_CITY].days_mean is None
    assert rows[lf.POLICE_CITY].days_p90 is None


def test_total_counts_each_order_once_and_each_closed_lead_once(story: dict[str, int]) -> None:
    total = loop_health(_region_scope(data.XIAONAN), START, END, now=NOW).total
    assert _counts(total) == {
        "orders": 9,
        "sign": (6, 9),
        "reply": (5, 7),
        "overdue": 4,
        "redo": (1, 6),
        "extensions": (1, 1),
        "returns": (2, 1),
        "days": [0, 5, 14],
    }
    assert total.days_mean == pytest.approx(19 / 3)
    assert total.days_p90 == 14


def test_default_ranking_is_best_on_time_reply_first_and_rows_without_a_rate_last(
    story: dict[str, int],
) -> None:
    report = loop_health(_region_scope(data.XIAONAN), START, END, now=NOW)
    assert [r.label for r in report.rows] == [
        lf.MARKET_XIAONAN,
        lf.EDUCATION_XIAONAN,
        lf.POLICE_CITY,
    ]


def test_rows_are_sortable_by_any_column_in_both_directions(story: dict[str, int]) -> None:
    scope = _region_scope(data.XIAONAN)
    by_overdue = loop_health(scope, START, END, sort="overdue_now", now=NOW).rows
    assert [r.overdue_now for r in by_overdue] == [1, 1, 2]
    by_orders = loop_health(scope, START, END, sort="-orders", now=NOW).rows
    assert [r.orders for r in by_orders] == [4, 4, 1]
    by_p90 = loop_health(scope, START, END, sort="-days_p90", now=NOW).rows
    assert by_p90[-1].label == lf.POLICE_CITY  # no closed lead: last whichever direction


def test_overdue_now_counts_orders_from_before_the_period(story: dict[str, int]) -> None:
    scope = _region_scope(data.XIAONAN)
    overdue = set(orders_overdue_now(scope, NOW).values_list("lead_id", flat=True))
    assert overdue == {story["g"], story["c"]}
    assert not orders_counted(scope, START, END).filter(lead_id=story["g"]).exists()


def test_a_shorter_period_counts_only_its_orders_and_closures(story: dict[str, int]) -> None:
    october = loop_health(
        _region_scope(data.XIAONAN),
        datetime.date(2026, 10, 1),
        datetime.date(2026, 10, 31),
        now=NOW,
    )
    rows = {r.label: r for r in october.rows}
    assert (rows[lf.EDUCATION_XIAONAN].orders, rows[lf.EDUCATION_XIAONAN].sign_counted) == (1, 1)
    assert rows[lf.EDUCATION_XIAONAN].signed_on_time == 0
    assert rows[lf.MARKET_XIAONAN].signed_on_time == 1
    assert sorted(october.total.days) == [5, 14]


def test_city_slice_by_district_separates_the_districts(story: dict[str, int]) -> None:
    rows = _rows(_region_scope(data.XIAOGAN), "district")
    assert set(rows) == {"孝南区", "孝昌县"}
    assert rows["孝南区"].orders == 9
    assert sorted(rows["孝南区"].days) == [0, 5, 14]
    assert (rows["孝昌县"].orders, rows["孝昌县"].sign_counted) == (2, 2)
    assert (rows["孝昌县"].signed_on_time, rows["孝昌县"].overdue_now) == (0, 2)


def test_district_slice_does_not_see_another_district(story: dict[str, int]) -> None:
    rows = _rows(_region_scope(data.XIAONAN), "district")
    assert set(rows) == {"孝南区"}
    assert (
        not orders_counted(_region_scope(data.XIAONAN), START, END)
        .filter(lead_id=story["f"])
        .exists()
    )


def test_area_rows_follow_the_leads_area(story: dict[str, int]) -> None:
    area = Lead.objects.get(pk=story["a"]).area
    assert area is not None
    report = loop_health(_region_scope(data.XIAOGAN), START, END, "area", now=NOW)
    rows = {row.key: row for row in report.rows}
    assert rows[area.pk].orders == 9
    assert rows[area.pk].label == area.name
    assert Lead.objects.get(pk=story["f"]).area_id is None
    assert rows[None].orders == 2


def test_area_slice_counts_only_its_area(story: dict[str, int]) -> None:
    area = Lead.objects.select_related("area").get(pk=story["a"]).area
    assert area is not None
    scope = FigureScope("area", area.pk, area.name)
    total = loop_health(scope, START, END, "department", now=NOW).total
    assert (total.orders, total.overdue_now, sorted(total.days)) == (9, 4, [0, 5, 14])


def test_area_slice_by_district_finds_the_district_above_the_area(story: dict[str, int]) -> None:
    area = Lead.objects.select_related("area").get(pk=story["a"]).area
    assert area is not None
    rows = _rows(FigureScope("area", area.pk, area.name), "district")
    assert list(rows) == ["孝南区"]
    assert rows["孝南区"].orders == 9


def test_department_slice_shows_only_its_own_row(story: dict[str, int]) -> None:
    scope = _department_scope(lf.MARKET_XIAONAN)
    rows = _rows(scope)
    assert list(rows) == [lf.MARKET_XIAONAN]
    assert _counts(rows[lf.MARKET_XIAONAN]) == MARKET


def test_department_slice_by_district_counts_only_its_orders(story: dict[str, int]) -> None:
    rows = _rows(_department_scope(lf.MARKET_XIAONAN), "district")
    assert _counts(rows["孝南区"]) == MARKET
    assert set(leads_closed(_department_scope(lf.POLICE_CITY), START, END)) == set()


def test_nearest_rank_percentile() -> None:
    assert nearest_rank([]) is None
    assert nearest_rank([7]) == 7
    assert nearest_rank(range(1, 11)) == 9  # ⌈9.0⌉ = 9th
    assert nearest_rank(range(1, 12)) == 10  # ⌈9.9⌉ = 10th
    assert nearest_rank([3, 1, 2], 50) == 2


def test_sort_puts_rows_without_a_value_last_in_both_directions() -> None:
    rows = [
        HealthRow(key=1, label="甲", replied_on_time=1, reply_counted=2),
        HealthRow(key=2, label="乙"),
        HealthRow(key=3, label="丙", replied_on_time=2, reply_counted=2),
    ]
    assert [r.label for r in sort_rows(rows, "-reply_rate")] == ["丙", "甲", "乙"]
    assert [r.label for r in sort_rows(rows, "reply_rate")] == ["甲", "丙", "乙"]
    assert [r.label for r in sort_rows(rows, "nonsense")] == ["丙", "甲", "乙"]
