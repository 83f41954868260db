"""The rollups: periods they answer exactly, and agreement with the recount at every moment."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bihuan.leads.models import Lead
from bihuan.reports import figures, rollups
from bihuan.reports.models import FigureRollup
from bihuan.reports.tests import activity
from bihuan.reports.tests.activity import JointPlan, LeadPlan, Plan, VisitPlan
from bihuan.screening.tests import factories as sf
from bihuan.screening.workflow import InspectionStatus, VisitOutcome

pytestmark = pytest.mark.django_db
NOW_LAG = datetime.timedelta(0)  # nothing runs alongside a test: fold every event


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[activity.World]:
    with sf.city_for_module(django_db_blocker), django_db_blocker.unblock():
        yield activity.build_world()


# --- periods -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "unit", "bounds"),
    [
        ("2026-02-14", "y", ("2026-01-01", "2026-12-31")),
        ("2026-02-14", "q", ("2026-01-01", "2026-03-31")),
        ("2026-12-31", "q", ("2026-10-01", "2026-12-31")),
        ("2026-02-14", "m", ("2026-02-01", "2026-02-28")),
        ("2026-12-05", "m", ("2026-12-01", "2026-12-31")),
    ],
)
def test_unit_bounds_hold_the_day(day: str, unit: str, bounds: tuple[str, str]) -> None:
    got = rollups.unit_bounds(unit, datetime.date.fromisoformat(day))
    assert got == tuple(datetime.date.fromisoformat(b) for b in bounds)


@pytest.mark.parametrize(
    ("start", "end", "unit"),
    [
        ("2026-01-01", "2026-11-27", "y"),  # year to date
        ("2026-04-01", "2026-06-30", "q"),
        ("2026-05-01", "2026-05-31", "m"),
        ("2026-05-01", "2026-05-10", "m"),
        ("2026-05-02", "2026-05-10", None),
        ("2026-11-01", "2027-01-31", None),
        ("2026-10-01", "2026-11-27", "q"),
    ],
)
def test_aligned_unit_covers_reports_and_year_to_date(
    start: str, end: str, unit: str | None
) -> None:
    got = rollups.aligned_unit(datetime.date.fromisoformat(start), datetime.date.fromisoformat(end))
    assert got == unit


# --- agreement -----------------------------------------------------------------------------------

days = st.integers(min_value=0, max_value=activity.DAYS - 1)
hours = st.sampled_from(activity.HOURS)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """A generated stretch of activity across two communities, two areas, two departments."""
    plan = Plan()
    slots = draw(st.sets(st.integers(0, 9), max_size=10))
    for slot in sorted(slots):
        plan.visits.append(
            VisitPlan(
                slot=slot,
                status=draw(
                    st.sampled_from(
                        [InspectionStatus.APPROVED] * 3
                        + [InspectionStatus.RETURNED, InspectionStatus.SUBMITTED]
                    )
                ),
                outcome=draw(st.sampled_from([VisitOutcome.VISITED] * 3 + [VisitOutcome.CLOSED])),
                day=draw(days),
                hour=draw(hours),
                extra=tuple(draw(st.sets(st.integers(0, 5), max_size=2))),
                late=draw(st.booleans()),
            )
        )
    for _ in range(draw(st.integers(0, 7))):
        day = draw(days)
        case = None
        refunds: tuple[tuple[int, int, bool], ...] = ()
        if draw(st.booleans()):
            case = (draw(st.integers(day, activity.DAYS - 1)), draw(st.booleans()))
            refunds = tuple(
                (
                    draw(st.integers(1, 500_000)),
                    draw(st.integers(case[0], activity.DAYS - 1)),
                    draw(st.booleans()),
                )
                for _ in range(draw(st.integers(0, 2)))
            )
        depts = draw(st.sets(st.integers(0, 1), max_size=2))
        plan.leads.append(
            LeadPlan(
                community=draw(st.integers(0, 1)),
                area=draw(st.sampled_from([None, 0, 1])),
                day=day,
                hour=draw(hours),
                merged=draw(st.integers(0, 4)) == 0,
                orders=tuple((d, draw(st.booleans())) for d in sorted(depts)),
                case=case,
                refunds=refunds,
                late=draw(st.booleans()),
            )
        )
    # Leads written after the rollups come after the others (the first one is the survivor).
    plan.leads.sort(key=lambda lead: lead.late)
    if plan.leads:
        for _ in range(draw(st.integers(0, 3))):
            chosen = draw(st.sets(st.integers(0, len(plan.leads) - 1), min_size=1, max_size=3))
            people = draw(st.sets(st.integers(0, 5), min_size=1, max_size=4))
            plan.joints.append(
                JointPlan(
                    leads=tuple(sorted(chosen)),
                    day=draw(days),
                    recorded=draw(st.integers(0, 3)) > 0,
                    people=tuple((u, draw(st.sampled_from([None, 0, 1]))) for u in sorted(people)),
                    late=draw(st.booleans()),
                )
            )
    plan.merged_institution = draw(st.booleans())
    return plan


@st.composite
def periods(draw: st.DrawFn) -> tuple[datetime.date, datetime.date]:
    """Year to date, a month, a quarter, or any range."""
    kind = draw(st.sampled_from(["ytd", "month", "quarter", "range"]))
    end = activity.YEAR_START + datetime.timedelta(days=draw(days))
    if kind == "ytd":
        return activity.YEAR_START, end
    if kind in ("month", "quarter"):
        start, last = rollups.unit_bounds("m" if kind == "month" else "q", end)
        return start, draw(st.sampled_from([end, last]))
    start = activity.YEAR_START + datetime.timedelta(days=draw(days))
    return min(start, end), max(start, end)


def _check(world: activity.World, plan: Plan, period: tuple[datetime.date, datetime.date]) -> None:
    start, end = period
    for scope in activity.slices(world):
        want = activity.expected(world, plan, scope, start, end)
        assert figures.recount(scope, start, end) == want, (scope, period)
        assert figures.headline(scope, start, end) == want, (scope, period)
        assert figures.headlines(scope, [period, period]) == [want, want], (scope, period)
        for metric in figures.METRICS:
            value = want.value(metric)
            listed = figures.records(metric, scope, start, end)
            assert listed.total() == (value or 0), (metric, scope, period)
            assert sum(r.weight for r in listed.rows()) == (value or 0), (metric, scope)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans(), first=periods(), second=periods())
def test_headline_equals_recount_equals_records_before_and_after_refresh(
    world: activity.World,
    plan: Plan,
    first: tuple[datetime.date, datetime.date],
    second: tuple[datetime.date, datetime.date],
) -> None:
    with transaction.atomic():
        leads: list[Lead] = []
        activity.apply(world, plan, leads, late=False)
        rollups.refresh(full=True, lag=NOW_LAG)
        activity.apply(world, plan, leads, late=True)
        # Written after the build: the rollups are stale on those days, the headline is not.
        for period in (first, second):
            _check(world, plan, period)
        rollups.refresh(lag=NOW_LAG)
        assert not rollups.dirty_days(rollups.state())  # type: ignore[arg-type]
        for period in (first, second):
            _check(world, plan, period)
        transaction.set_rollback(True)


def test_headline_reads_rollups_once_built(world: activity.World) -> None:
    plan = Plan(
        leads=[LeadPlan(0, 0, 10, 9, False, ((0, True),), (20, True), ((12_345, 30, True),))]
    )
    activity.apply(world, plan, [], late=False)
    rollups.refresh(full=True, lag=NOW_LAG)
    city = activity.slices(world)[0]
    period = (activity.YEAR_START, datetime.date(2026, 12, 31))
    assert figures.headline(city, *period).refunds_fen == 12_345
    # The headline is the rollups' sum: change them and it changes (which check_figures catches).
    FigureRollup.objects.filter(metric="refunds", scope=city.key).update(value=1)
    assert figures.headline(city, *period).refunds_fen == 1
    assert figures.recount(city, *period).refunds_fen == 12_345


def test_a_change_after_the_build_is_counted_before_the_next_refresh(
    world: activity.World,
) -> None:
    activity.apply(
        world, Plan(leads=[LeadPlan(0, None, 5, 9, False, (), None, ())]), [], late=False
    )
    rollups.refresh(full=True, lag=NOW_LAG)
    city = activity.slices(world)[0]
    january = (activity.YEAR_START, datetime.date(2026, 1, 31))
    assert figures.headline(city, *january).leads == 1
    later = Plan(leads=[LeadPlan(1, None, 5, 23, False, (), None, ())])
    activity.apply(world, later, [], late=False)
    assert figures.headline(city, *january).leads == 2
    state = rollups.state()
    assert state is not None
    assert rollups.dirty_days(state) == {datetime.date(2026, 1, 6)}


def test_refresh_with_lag_leaves_recent_events_to_the_live_count(world: activity.World) -> None:
    activity.apply(
        world, Plan(leads=[LeadPlan(0, None, 5, 9, False, (), None, ())]), [], late=False
    )
    rollups.refresh(full=True, lag=datetime.timedelta(hours=1))
    state = rollups.state()
    assert state is not None
    assert datetime.date(2026, 1, 6) in rollups.dirty_days(state)
    city = activity.slices(world)[0]
    assert figures.headline(city, activity.YEAR_START, datetime.date(2026, 3, 31)).leads == 1
