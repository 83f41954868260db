"""The demo's synthetic year: idempotent, the loop holds, the five figures are real and agree."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Max

from bihuan.audit.models import Event
from bihuan.cases.models import Case, Refund
from bihuan.demo import data
from bihuan.leads.demo import load_demo_leads
from bihuan.leads.integrity import loop_problems
from bihuan.leads.models import JointOperation, Lead, WorkOrder
from bihuan.leads.tests.factories import city_for_module
from bihuan.leads.workflow import LeadSource, LeadStatus
from bihuan.registry.demo import load_demo_registry
from bihuan.reports import figures, rollups
from bihuan.reports.demo import MARK, load_demo_history
from bihuan.reports.periods import unit
from bihuan.reports.report import build_report
from bihuan.reports.scope import FigureScope
from bihuan.reports.sentence import wan_yuan
from bihuan.screening import checklists
from bihuan.screening.demo import load_demo_screening
from bihuan.screening.models import Inspection, InspectionVersion, Round
from bihuan.screening.workflow import InspectionStatus, RoundStatus
from bihuan.territory.models import Region

TODAY = datetime.date(2026, 11, 27)
YEAR = (datetime.date(2026, 1, 1), TODAY)
MODELS = (Round, Inspection, Lead, WorkOrder, Case, Refund, JointOperation, Event)


@pytest.fixture(scope="module")
def history(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, int]]:
    with city_for_module(django_db_blocker), django_db_blocker.unblock():
        load_demo_registry()
        load_demo_leads()
        load_demo_screening()
        yield load_demo_history(today=TODAY)


def _scope(code: str) -> FigureScope:
    region = Region.objects.get(code=code)
    return FigureScope("region", region.pk, region.name, region.path)


def _counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in MODELS}


def test_history_writes_every_kind_of_record(db: None, history: dict[str, int]) -> None:
    assert all(n > 0 for n in history.values()), history
    assert (
        Round.objects.filter(name__endswith=MARK, status=RoundStatus.CLOSED).count()
        == (history["rounds"])
    )


def test_loading_twice_adds_nothing(db: None, history: dict[str, int]) -> None:
    before = _counts()
    assert set(load_demo_history(today=TODAY).values()) == {0}
    assert _counts() == before


def test_the_demo_rounds_of_this_quarter_stay_as_they_were(
    db: None, history: dict[str, int]
) -> None:
    # The story's round (issued, current quarter) is not one of the history's closed rounds.
    current = Round.objects.exclude(name__endswith=MARK).get(region__code=data.WENCHANG)
    assert current.status == RoundStatus.ISSUED
    assert not current.items.filter(inspection__isnull=False).exists()


def test_the_loop_holds(db: None, history: dict[str, int]) -> None:
    assert loop_problems() == []


def test_nothing_happens_after_yesterday(db: None, history: dict[str, int]) -> None:
    last = datetime.datetime.combine(TODAY, datetime.time(), tzinfo=figures.screening.LOCAL)
    assert Inspection.objects.aggregate(m=Max("visited_at"))["m"] < last
    assert Lead.objects.filter(is_synthetic=True).aggregate(m=Max("created_at"))["m"] < last
    assert Refund.objects.aggregate(m=Max("verified_at"))["m"] < last


def test_approved_visits_have_a_review_and_answers_that_pass_the_checklist(
    db: None, history: dict[str, int]
) -> None:
    approved = Inspection.objects.filter(status=InspectionStatus.APPROVED, version=1)
    assert approved.count() == history["inspections"]
    assert not approved.filter(reviews__isnull=True).exists()
    flagged = 0
    for version in InspectionVersion.objects.filter(inspection__in=approved).select_related(
        "inspection__checklist"
    ):
        definition = version.inspection.checklist.definition
        answers = version.answers
        result = checklists.evaluate(definition, answers["values"], answers["notes"], {})
        photos = {q["name"] for q in definition["questions"] if q["type"] == "photo"}
        assert set(result.errors) <= photos  # the demo makes no photos, and says so
        assert len(result.flags) == len(version.flags) == version.inspection.flag_count
        flagged += bool(version.flags)
    from_visits = Lead.objects.filter(source=LeadSource.INSPECTION, inspection__isnull=False)
    assert flagged > 0
    assert from_visits.count() == flagged


def test_leads_take_every_road_through_the_loop(db: None, history: dict[str, int]) -> None:
    synthetic = Lead.objects.filter(is_synthetic=True)
    statuses = set(synthetic.values_list("status", flat=True))
    assert {LeadStatus.CLOSED, LeadStatus.MERGED, LeadStatus.DISMISSED} <= statuses
    assert synthetic.filter(status=LeadStatus.CLOSED).count() > synthetic.count() / 2
    assert set(synthetic.values_list("source", flat=True)) >= {
        LeadSource.INSPECTION,
        LeadSource.SCHOOL,
        LeadSource.TIP,
        LeadSource.BUREAU,
    }


def test_city_figures_for_the_year_are_real_and_the_rollups_agree(
    db: None, history: dict[str, int]
) -> None:
    city = _scope(data.XIAOGAN)
    counted = figures.recount(city, *YEAR)
    assert all(v for v in vars(counted).values()), counted
    assert 100_000_00 <= counted.refunds_fen <= 2_000_000_00  # hundreds of thousands of yuan
    assert figures.headline(city, *YEAR) == counted
    rollups.refresh(full=True, lag=datetime.timedelta(0))
    assert figures.headline(city, *YEAR) == counted
    out = StringIO()
    call_command("check_figures", stdout=out)
    assert "agree" in out.getvalue()


def test_wenchang_is_a_strict_part_of_the_city(db: None, history: dict[str, int]) -> None:
    city = figures.recount(_scope(data.XIAOGAN), *YEAR)
    wenchang = figures.recount(_scope(data.WENCHANG), *YEAR)
    assert wenchang.person_times > 0 and wenchang.leads > 0
    pairs = [(getattr(wenchang, k), getattr(city, k)) for k in vars(city)]
    assert all(part <= whole for part, whole in pairs)
    assert wenchang.person_times < city.person_times
    assert wenchang.leads < city.leads
    assert wenchang.institutions is not None and city.institutions is not None
    assert wenchang.institutions < city.institutions


def test_yearly_report_opens_with_the_article_sentence_filled_from_the_data(
    db: None, history: dict[str, int]
) -> None:
    city = _scope(data.XIAOGAN)
    report = build_report(city, unit("year", TODAY, TODAY), TODAY)
    counted = figures.recount(city, *YEAR)
    assert report.sentence == (
        f"今年以来，出动检查人员{counted.person_times}人次，摸排机构{counted.institutions}家，"
        f"反馈线索{counted.leads}条，查处隐形变异学科培训{counted.disguised_cases}次，"
        f"清退培训费用{wan_yuan(counted.refunds_fen)}万元。"
    )
