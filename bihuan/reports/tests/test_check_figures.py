"""check_figures: silent and zero when the rollups agree, loud and non-zero on any difference."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import F

from bihuan.demo import data
from bihuan.reports import rollups
from bihuan.reports.models import FigureRollup
from bihuan.reports.tests import activity
from bihuan.reports.tests.activity import JointPlan, LeadPlan, Plan, VisitPlan
from bihuan.screening.tests import factories as sf
from bihuan.screening.workflow import InspectionStatus, VisitOutcome

pytestmark = pytest.mark.django_db

PLAN = Plan(
    visits=[
        VisitPlan(0, InspectionStatus.APPROVED, VisitOutcome.VISITED, 3, 9, (1,)),
        VisitPlan(6, InspectionStatus.APPROVED, VisitOutcome.VISITED, 40, 0, ()),
    ],
    leads=[
        LeadPlan(0, 0, 2, 9, False, ((0, True),), (30, True), ((50_000, 31, True),)),
        LeadPlan(1, 1, 45, 23, False, ((1, True),), None, ()),
    ],
    joints=[JointPlan((0, 1), 50, True, ((2, 0), (3, None)))],
)


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[activity.World]:
    with sf.city_for_module(django_db_blocker), django_db_blocker.unblock():
        yield activity.build_world()


@pytest.fixture
def built(world: activity.World) -> activity.World:
    activity.apply(world, PLAN, [], late=False)
    rollups.refresh(full=True, lag=rollups.datetime.timedelta(0))
    return world


def _run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("check_figures", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_rollups_that_agree_pass(built: activity.World) -> None:
    code, out = _run("--no-refresh")
    assert code == 0
    assert "agree" in out


def test_a_corrupted_rollup_is_caught_and_printed(built: activity.World) -> None:
    FigureRollup.objects.filter(metric="leads").update(value=F("value") + 1)
    code, out = _run("--no-refresh")
    assert code == 1
    assert "leads region:" in out
    assert "rollup 2, recount 1" in out


def test_a_missing_rollup_row_is_caught(built: activity.World) -> None:
    FigureRollup.objects.filter(metric="inst_y").delete()
    code, out = _run("--no-refresh")
    assert code == 1
    assert "inst_y" in out


def test_a_stray_rollup_row_is_caught(built: activity.World) -> None:
    row = FigureRollup.objects.filter(metric="refunds").first()
    assert row is not None
    FigureRollup.objects.create(
        metric="refunds", scope=row.scope, day=row.day.replace(day=2), value=7
    )
    code, out = _run("--no-refresh")
    assert code == 1
    assert "rollup 7, recount 0" in out


def test_region_limits_the_check_to_its_subtree(built: activity.World) -> None:
    huaiyin = activity.slices(built)[3]
    assert huaiyin.label == "槐荫社区"
    FigureRollup.objects.filter(scope=huaiyin.key).update(value=F("value") + 1)
    assert _run("--no-refresh", "--region", data.WENCHANG)[0] == 0
    assert _run("--no-refresh", "--region", data.HUAIYIN)[0] == 1


def test_refresh_first_folds_changes_made_since_the_build(built: activity.World) -> None:
    activity.apply(built, Plan(leads=[LeadPlan(0, 0, 60, 9, False, (), None, ())]), [], late=False)
    assert rollups.dirty_days(rollups.state())  # type: ignore[arg-type]
    code, out = _run()
    assert code == 0, out
    assert "Refreshed" in out


def test_since_skips_earlier_days(built: activity.World) -> None:
    FigureRollup.objects.filter(metric="leads", day=activity.YEAR_START.replace(day=3)).update(
        value=5
    )
    assert _run("--no-refresh", "--since", "2026-02-01")[0] == 0
    assert _run("--no-refresh", "--since", "2026-01-01")[0] == 1


def test_unknown_region_is_an_error(built: activity.World) -> None:
    with pytest.raises(SystemExit) as exc:
        call_command("check_figures", "--no-refresh", "--region", "999999", stderr=StringIO())
    assert exc.value.code == 2


def test_help_names_the_options() -> None:
    from bihuan.reports.management.commands.check_figures import Command

    text = Command().create_parser("manage.py", "check_figures").format_help()
    assert "--since" in text and "--region" in text and "--no-refresh" in text
    assert "exits with status 1" in " ".join(text.split())


def test_refresh_all_rebuilds_rollups_that_were_lost(world: activity.World) -> None:
    activity.apply(world, PLAN, [], late=False)
    rollups.refresh(full=True, lag=rollups.datetime.timedelta(0))
    expected = sorted(FigureRollup.objects.values_list("metric", "scope", "day", "value"))
    FigureRollup.objects.filter(metric="leads").delete()
    out = StringIO()
    call_command("refresh_figures", "--all", stdout=out)
    assert "Rebuilt" in out.getvalue()
    assert sorted(FigureRollup.objects.values_list("metric", "scope", "day", "value")) == expected
