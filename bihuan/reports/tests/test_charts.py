"""The dashboards' series and map: months, groups, departments, institutions with their risk."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.models import Department, User
from bihuan.demo import data
from bihuan.leads import services
from bihuan.leads.tests import factories as lf
from bihuan.leads.workflow import LeadStatus
from bihuan.registry.models import Institution
from bihuan.reports import charts, figures
from bihuan.reports.scope import FigureScope, default_scope
from bihuan.screening.generation import institution_facts
from bihuan.screening.models import Round
from bihuan.territory.models import Region


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with lf.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


def _region_scope(code: str) -> FigureScope:
    region = Region.objects.get(code=code)
    return FigureScope("region", region.pk, region.name, region.path)


def _department_scope(short_name: str) -> FigureScope:
    department = Department.objects.get(short_name=short_name)
    return FigureScope("department", department.pk, department.short_name)


def _placed(institution: Institution, lat: float = 30.93, lng: float = 113.91) -> Institution:
    Institution.objects.filter(pk=institution.pk).update(latitude=lat, longitude=lng)
    institution.refresh_from_db()
    return institution


# ---------------------------------------------------------------------------- months


def test_the_last_twelve_months_end_today_oldest_first() -> None:
    months = charts.last_months(datetime.date(2026, 11, 27))
    assert len(months) == 12
    assert months[0] == (datetime.date(2025, 12, 1), datetime.date(2025, 12, 31))
    assert months[-1] == (datetime.date(2026, 11, 1), datetime.date(2026, 11, 27))


def test_the_last_months_cross_a_leap_february() -> None:
    months = charts.last_months(datetime.date(2024, 3, 10), count=3)
    assert months == [
        (datetime.date(2024, 1, 1), datetime.date(2024, 1, 31)),
        (datetime.date(2024, 2, 1), datetime.date(2024, 2, 29)),
        (datetime.date(2024, 3, 1), datetime.date(2024, 3, 10)),
    ]


# ---------------------------------------------------------------------------- series


@pytest.mark.django_db
def test_the_trend_counts_each_month_as_the_headline_does(supervisor_city: User) -> None:
    lf.lead_tip()
    lf.lead_tip(region=lf.region(data.HUAIYIN))
    scope = _region_scope(data.XIAONAN)
    today = timezone.localdate()
    trend = charts.monthly_trend(scope, today)
    assert len(trend["months"]) == 12
    assert trend["months"][-1] == f"{today:%Y-%m}"
    for index, (start, end) in enumerate(charts.last_months(today)):
        expected = figures.recount(scope, start, end)
        assert trend["leads"][index] == expected.leads
        assert trend["visits"][index] == expected.visits
        assert trend["person_times"][index] == expected.person_times
    assert trend["leads"][-1] == 2


@pytest.mark.django_db
def test_a_department_trend_has_no_visits(supervisor_city: User) -> None:
    trend = charts.monthly_trend(_department_scope(lf.EDUCATION_XIAONAN), timezone.localdate())
    assert trend["visits"] == [None] * 12


@pytest.mark.django_db
def test_a_lead_counts_once_in_each_of_its_groups(supervisor_city: User) -> None:
    lf.lead_accepted(supervisor_city, ("B3", "D4"))
    lf.lead_accepted(supervisor_city, ("B3", "B1"))
    lf.lead_tip()  # not classified yet
    today = timezone.localdate()
    groups = charts.leads_by_group(_region_scope(data.WENCHANG), today.replace(day=1), today)
    counts = dict(zip(groups["labels"], groups["leads"], strict=True))
    assert counts == {"B 隐形变异学科类培训": 2, "D 收费与资金": 1, _("Not classified"): 1}
    assert groups["labels"][0] == "B 隐形变异学科类培训"


@pytest.mark.django_db
def test_merged_leads_are_not_in_the_groups(supervisor_city: User) -> None:
    kept = lf.lead_accepted(supervisor_city, ("B3",))
    duplicate = lf.lead_accepted(supervisor_city, ("B3",))
    services.lead_merge(actor=supervisor_city, lead=duplicate, into=kept)
    assert _status(duplicate) == LeadStatus.MERGED
    today = timezone.localdate()
    groups = charts.leads_by_group(_region_scope(data.WENCHANG), today.replace(day=1), today)
    assert groups["leads"] == [1]


def _status(lead: Any) -> str:
    lead.refresh_from_db()
    return str(lead.status)


@pytest.mark.django_db
def test_a_department_sees_the_groups_of_its_own_leads_only(supervisor_city: User) -> None:
    lf.lead_dispatched(supervisor_city, ("B3",))  # 孝南区教育局 leads, 孝南区市场监管局 assists
    lf.lead_accepted(supervisor_city, ("D4",))  # not dispatched: no department holds it
    today = timezone.localdate()
    groups = charts.leads_by_group(
        _department_scope(lf.MARKET_XIAONAN), today.replace(day=1), today
    )
    assert groups == {"labels": ["B 隐形变异学科类培训"], "leads": [1]}


@pytest.mark.django_db
def test_departments_series_come_from_the_loops_health(supervisor_city: User) -> None:
    lf.lead_dispatched(supervisor_city, ("B3",))
    lf.lead_dispatched(supervisor_city, ("B3",))
    today = timezone.localdate()
    series = charts.orders_by_department(
        _region_scope(data.XIAONAN), today.replace(day=1), today, timezone.now()
    )
    assert sorted(series["labels"]) == sorted([lf.EDUCATION_XIAONAN, lf.MARKET_XIAONAN])
    assert series["orders"] == [2, 2]
    assert series["overdue"] == [0, 0]
    # Nothing is signed nor past its deadline yet: no rate has a denominator.
    assert series["sign_rate"] == [None, None]


@pytest.mark.django_db
def test_the_dashboard_series_hold_the_year_to_date(supervisor_city: User) -> None:
    lf.lead_tip()
    scope = default_scope(supervisor_city)
    series = charts.dashboard_series(scope)
    today = timezone.localdate()
    expected = figures.recount(scope, today.replace(month=1, day=1), today)
    assert series["figures"]["leads"] == expected.leads
    assert series["figures"]["person_times"] == expected.person_times
    assert series["figures"]["refunds_fen"] == expected.refunds_fen
    assert series["scope"] == scope.key


# ---------------------------------------------------------------------------- map


@pytest.mark.django_db
def test_the_map_shows_the_slices_placed_institutions_with_their_round_risk(
    supervisor_city: User,
) -> None:
    risky = _placed(lf.institution_make("文昌风险机构"))
    quiet = _placed(lf.institution_make("文昌安静机构", category="arts"))
    _placed(lf.institution_make("槐荫机构", region_code=data.HUAIYIN))
    lf.institution_make("文昌无坐标机构")
    lf.lead_accepted(supervisor_city, ("B3",), institution=risky)
    collection = charts.map_features(_region_scope(data.WENCHANG))
    institutions = {
        f["properties"]["name"]: f["properties"]
        for f in collection["features"]
        if f["properties"]["kind"] == "institution"
    }
    assert set(institutions) >= {"文昌风险机构", "文昌安静机构"}
    assert "槐荫机构" not in institutions
    assert "文昌无坐标机构" not in institutions
    for institution in (risky, quiet):
        expected = institution_facts(Round(pk=0), institution).risk
        assert institutions[institution.name]["risk"] == expected
    assert institutions["文昌风险机构"]["risk_band"] == "high"
    assert institutions["文昌安静机构"]["risk_band"] == "medium"
    assert institutions["文昌安静机构"]["status"] == "registered"


@pytest.mark.django_db
def test_an_open_lead_without_a_position_is_placed_at_its_institution(
    supervisor_city: User,
) -> None:
    place = _placed(lf.institution_make("文昌有坐标机构"), lat=30.5, lng=114.25)
    lead = lf.lead_accepted(supervisor_city, ("B3",), institution=place)
    lf.lead_tip()  # neither a position nor an institution: not drawn
    collection = charts.map_features(_region_scope(data.WENCHANG))
    leads = [f for f in collection["features"] if f["properties"]["kind"] == "lead"]
    assert [f["properties"]["id"] for f in leads] == [lead.pk]
    assert leads[0]["geometry"]["coordinates"] == [114.25, 30.5]


@pytest.mark.django_db
def test_closed_leads_are_not_on_the_map(
    supervisor_city: User, officer_education_xiaonan: User, officer_market_xiaonan: User
) -> None:
    place = _placed(lf.institution_make("文昌已办结机构"))
    lf.lead_closed(
        supervisor_city, officer_education_xiaonan, officer_market_xiaonan, institution=place
    )
    collection = charts.map_features(_region_scope(data.WENCHANG))
    assert collection["counts"]["leads"] == 0


@pytest.mark.django_db
def test_a_department_map_shows_the_institutions_of_its_leads(supervisor_city: User) -> None:
    sent = _placed(lf.institution_make("派给市场监管的机构"))
    _placed(lf.institution_make("没有线索的机构"))
    lf.lead_dispatched(supervisor_city, ("B3",), institution=sent)
    collection = charts.map_features(_department_scope(lf.MARKET_XIAONAN))
    names = {
        f["properties"]["name"]
        for f in collection["features"]
        if f["properties"]["kind"] == "institution"
    }
    assert names == {"派给市场监管的机构"}


@pytest.mark.django_db
def test_the_map_is_capped_and_says_so(
    supervisor_city: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("文昌甲", "文昌乙", "文昌丙"):
        _placed(lf.institution_make(name))
    monkeypatch.setattr(charts, "MAX_INSTITUTIONS", 2)
    collection = charts.map_features(_region_scope(data.WENCHANG))
    assert collection["counts"]["institutions"] == 2
    assert collection["truncated"] is True


@pytest.mark.parametrize(
    ("score", "band"), [(0, "low"), (9, "low"), (10, "medium"), (13, "medium"), (20, "high")]
)
def test_risk_bands(score: int, band: str) -> None:
    assert charts.risk_band(score) == band
