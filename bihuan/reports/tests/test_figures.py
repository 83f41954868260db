"""The five figures of a slice, and the records behind them, on a small world counted by hand."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import resolve

from bihuan.accounts.models import User
from bihuan.reports import figures, rollups
from bihuan.reports.figures import Headline
from bihuan.reports.scope import FigureScope, default_scope, scopes_of
from bihuan.reports.tests import activity
from bihuan.reports.tests.activity import JointPlan, LeadPlan, Plan, VisitPlan
from bihuan.screening.tests import factories as sf
from bihuan.screening.workflow import InspectionStatus, VisitOutcome

pytestmark = pytest.mark.django_db
APPROVED, VISITED = InspectionStatus.APPROVED, VisitOutcome.VISITED
YEAR = (activity.YEAR_START, datetime.date(2026, 12, 31))

# 文昌 (community 0): two visits of institution 0 (two people on the first, the second at
# 00:30 local on 01-05), one of institution 1, institution 2 found closed; a lead with a live
# order of department 0, a concluded disguised case, 500 元 refunded and a 20 元 refund still
# unverified; a merged duplicate lead; a joint operation of 3 people (1 of department 0).
# 槐荫 (community 1): a visit of institution 3, a lead of department 1 with a case that is not
# disguised and a 300 元 refund; one visit only returned.
PLAN = Plan(
    visits=[
        VisitPlan(0, APPROVED, VISITED, 3, 9, (1,)),
        VisitPlan(1, APPROVED, VISITED, 4, 0, ()),  # 00:30 on 01-05: a January day
        VisitPlan(2, APPROVED, VISITED, 40, 23, ()),
        VisitPlan(4, APPROVED, VisitOutcome.CLOSED, 41, 9, ()),
        VisitPlan(6, APPROVED, VISITED, 42, 9, ()),
        VisitPlan(8, InspectionStatus.RETURNED, VISITED, 43, 9, ()),
    ],
    leads=[
        LeadPlan(
            0, 0, 2, 9, False, ((0, True),), (30, True), ((50_000, 31, True), (2_000, 31, False))
        ),
        LeadPlan(0, 0, 2, 10, True, ((0, True),), None, ()),
        LeadPlan(1, 1, 45, 23, False, ((1, True), (0, False)), (50, False), ((30_000, 51, True),)),
    ],
    joints=[JointPlan((0,), 50, True, ((2, 0), (3, None), (4, None)))],
)


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[activity.World]:
    with sf.city_for_module(django_db_blocker), django_db_blocker.unblock():
        world = activity.build_world()
        activity.apply(world, PLAN, [], late=False)
        yield world


def _slice(world: activity.World, label: str) -> FigureScope:
    return next(s for s in activity.slices(world) if s.label == label)


def test_city_figures_count_by_hand(world: activity.World) -> None:
    city = _slice(world, "孝感市")
    assert figures.recount(city, *YEAR) == Headline(
        person_times=2 + 1 + 1 + 1 + 1 + 3,
        institutions=3,
        visits=4,
        leads=2,
        disguised_cases=1,
        refunds_fen=80_000,
    )


def test_community_slice_counts_only_its_own_records(world: activity.World) -> None:
    wenchang = _slice(world, "文昌社区")
    assert figures.recount(wenchang, *YEAR) == Headline(
        person_times=2 + 1 + 1 + 1 + 3,
        institutions=2,
        visits=3,
        leads=1,
        disguised_cases=1,
        refunds_fen=50_000,
    )


def test_coordinators_dashboard_counts_only_their_community(
    world: activity.World, coordinator_wenchang: User, coordinator_huaiyin: User
) -> None:
    rollups.refresh(full=True, lag=datetime.timedelta(0))
    mine = default_scope(coordinator_wenchang)
    assert mine == _slice(world, "文昌社区")
    assert [s.label for s in scopes_of(coordinator_wenchang)] == ["文昌社区"]
    assert figures.headline(mine, *YEAR).refunds_fen == 50_000
    theirs = figures.headline(default_scope(coordinator_huaiyin), *YEAR)
    assert (theirs.leads, theirs.refunds_fen, theirs.person_times) == (1, 30_000, 1)


def test_department_slice_has_no_institutions_and_counts_its_people(
    world: activity.World,
) -> None:
    education = FigureScope("department", world.departments[0], "孝南区教育局")
    assert figures.recount(education, *YEAR) == Headline(
        person_times=1,  # its one participant of the joint operation; visits are not its figure
        institutions=None,
        visits=None,
        leads=1,  # the withdrawn order of 槐荫's lead does not make it the department's
        disguised_cases=1,
        refunds_fen=50_000,
    )
    assert figures.records("institutions", education, *YEAR).count() == 0


def test_area_slice_follows_the_records_areas(world: activity.World) -> None:
    area2 = FigureScope("area", world.areas[1], "槐荫测试片区")
    got = figures.recount(area2, *YEAR)
    assert (got.visits, got.institutions, got.leads, got.refunds_fen) == (1, 1, 1, 30_000)


def test_period_is_inclusive_local_days(world: activity.World) -> None:
    city = _slice(world, "孝感市")
    jan5 = datetime.date(2026, 1, 5)
    assert figures.recount(city, jan5, jan5).visits == 1
    assert figures.recount(city, jan5 + datetime.timedelta(days=1), YEAR[1]).visits == 2
    assert figures.recount(city, YEAR[0], jan5 - datetime.timedelta(days=1)).visits == 1


@pytest.mark.parametrize("metric", figures.METRICS)
@pytest.mark.parametrize("label", ["孝感市", "文昌社区", "槐荫社区"])
def test_drill_down_adds_up_to_the_headline(world: activity.World, metric: str, label: str) -> None:
    scope = _slice(world, label)
    listed = figures.records(metric, scope, *YEAR)
    rows = list(listed.rows())
    assert listed.total() == (figures.recount(scope, *YEAR).value(metric) or 0)
    assert sum(r.weight for r in rows) == listed.total()
    assert len(rows) == listed.count()
    paged = [r for n in range(1, 5) for r in listed.page(n, 2)]
    assert paged == rows[:8]
    for row in rows:
        assert resolve(row.url)
        assert YEAR[0] <= row.date <= YEAR[1]


def test_person_time_rows_weigh_their_people(world: activity.World) -> None:
    rows = list(figures.records("person_times", _slice(world, "文昌社区"), *YEAR).rows())
    assert [(r.kind, r.weight) for r in rows] == [
        ("inspection", 2),
        ("inspection", 1),
        ("inspection", 1),
        ("inspection", 1),
        ("joint_operation", 3),
    ]


def test_refund_rows_are_verified_refunds_in_fen(world: activity.World) -> None:
    rows = list(figures.records("refunds", _slice(world, "孝感市"), *YEAR).rows())
    assert sorted(r.weight for r in rows) == [30_000, 50_000]


def test_unknown_metric_is_refused(world: activity.World) -> None:
    with pytest.raises(KeyError):
        figures.records("smiles", _slice(world, "孝感市"), *YEAR)


def test_headline_recounts_until_the_first_build(world: activity.World) -> None:
    city = _slice(world, "孝感市")
    assert rollups.state() is None
    assert figures.headline(city, *YEAR) == figures.recount(city, *YEAR)


def test_headline_page_queries_are_bounded(
    world: activity.World, django_assert_max_num_queries: Any
) -> None:
    rollups.refresh(full=True, lag=datetime.timedelta(0))
    city = _slice(world, "孝感市")
    # State, events after the watermark, one SUM: whatever the size of the data.
    with django_assert_max_num_queries(3):
        figures.headline(city, *YEAR)


def test_region_scope_without_its_path_is_not_the_whole_country(world: activity.World) -> None:
    wenchang = _slice(world, "文昌社区")
    bare = FigureScope("region", wenchang.id, wenchang.label)
    assert figures.recount(bare, *YEAR) == figures.recount(wenchang, *YEAR)
    assert figures.records("leads", bare, *YEAR).total() == 1


def test_monthly_trend_reads_the_rollups_once(
    world: activity.World, django_assert_max_num_queries: Any
) -> None:
    rollups.refresh(full=True, lag=datetime.timedelta(0))
    city = _slice(world, "孝感市")
    months = [rollups.unit_bounds("m", datetime.date(2026, m, 1)) for m in range(1, 13)]
    with django_assert_max_num_queries(3):
        trend = figures.headlines(city, months)
    assert trend == [figures.recount(city, *m) for m in months]
    assert sum(h.leads for h in trend) == 2
