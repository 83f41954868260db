"""The figures page, the records behind each figure, and the periodic report (page and XLSX).

Out of scope is a 404; every number on the pages is checked against ``figures.recount``.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from bihuan.accounts.models import User
from bihuan.cases.models import CaseStatus, Refund, RefundStatus
from bihuan.cases.tests import factories as cf
from bihuan.demo import data
from bihuan.leads.models import Lead
from bihuan.leads.tests import factories as lf
from bihuan.leads.workflow import LeadStatus
from bihuan.reports import figures
from bihuan.reports.figures import METRICS
from bihuan.reports.periods import parse_token, year_to_date
from bihuan.reports.scope import FigureScope, parse_scope_key, scopes_of
from bihuan.reports.sentence import article_sentence
from bihuan.screening.models import Inspection, InspectionParticipant, TaskItem
from bihuan.screening.tests import factories as sf
from bihuan.screening.workflow import InspectionStatus
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db

READERS = (
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "officer_market",
    "area_guangchang",
)
NOBODY = ("inspector_wenchang", "admin_system")
PLACES = ("supervisor_city", "supervisor_xiaonan", "coordinator_wenchang")
PAGES = ("reports:figures", "reports:report")
_TODAY = timezone.localdate()
THIS_QUARTER = f"{_TODAY.year}-Q{(_TODAY.month - 1) // 3 + 1}"
THIS_MONTH = f"{_TODAY.year}-{_TODAY.month:02d}"
LAST_YEAR = f"{_TODAY.year - 1}"


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with lf.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _english(demo_city: dict[str, int], settings: Any) -> None:
    # The assertions read the English strings; the Chinese catalogue is filled separately.
    settings.LANGUAGE_CODE = "en"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _key(code: str) -> str:
    return f"region:{Region.objects.get(code=code).pk}"


def _scope(user: User, key: str | None = None) -> FigureScope:
    return parse_scope_key(user, key)


def _last_year(now: datetime.datetime) -> datetime.datetime:
    """The same moment a year ago (28 February for a leap day)."""
    try:
        return now.replace(year=now.year - 1)
    except ValueError:
        return now.replace(year=now.year - 1, day=28)


def _approved_visits(inspector: User, region_code: str, count: int) -> list[Inspection]:
    """Approved on-site visits of ``count`` new institutions, one participant each."""
    places = [
        lf.institution_make(f"统计测试机构{region_code[-3:]}-{n}", region_code)
        for n in range(count)
    ]
    round_ = sf.issued_round(inspector, places, region=lf.region(region_code))
    items = TaskItem.objects.filter(round=round_).select_related("institution", "round", "task")
    visits = [sf.submitted_inspection(item) for item in items]
    # Approval as the review service leaves it (status and time), without its notifications.
    Inspection.objects.filter(pk__in=[v.pk for v in visits]).update(
        status=InspectionStatus.APPROVED, approved_at=timezone.now()
    )
    return visits


def _concluded_case(lead: Lead, refund_fen: int, supervisor: User) -> None:
    """A disguised-tutoring case concluded today on the lead, with one verified refund."""
    now = timezone.now()
    case = cf.case_make(
        lead, status=CaseStatus.CONCLUDED, is_disguised=True, concluded_at=now, blacklisted=True
    )
    Refund.objects.create(
        case=case,
        amount_fen=refund_fen,
        families=3,
        reported_by=supervisor,
        status=RefundStatus.VERIFIED,
        verified_by=supervisor,
        verified_at=now,
    )


@pytest.fixture
def activity(
    supervisor_city: User, inspector_wenchang: User, demo_city: dict[str, int]
) -> dict[str, Any]:
    """A little of everything this year in 文昌 and 槐荫, and one lead of last year."""
    visits = _approved_visits(inspector_wenchang, data.WENCHANG, 2)
    InspectionParticipant.objects.create(
        inspection=visits[0], user=User.objects.get(username="inspector2")
    )
    _approved_visits(inspector_wenchang, data.HUAIYIN, 1)
    wenchang = [cf.dispatched_lead(violation_codes=("B3",)) for _ in range(3)]
    merged = cf.lead_make(status=LeadStatus.MERGED, merged_into=wenchang[0])
    huaiyin = cf.dispatched_lead(region_code=data.HUAIYIN)
    old = cf.lead_make()
    Lead.objects.filter(pk=old.pk).update(created_at=_last_year(timezone.now()))
    _concluded_case(wenchang[0], 170_000_000, supervisor_city)  # 1,700,000 元
    _concluded_case(huaiyin, 1_234_500, supervisor_city)
    return {"wenchang": wenchang, "huaiyin": huaiyin, "merged": merged, "old": old}


# ------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("persona", READERS)
def test_every_reader_opens_their_own_figures(
    name: str, persona: str, request: pytest.FixtureRequest
) -> None:
    assert _client(request.getfixturevalue(persona)).get(reverse(name)).status_code == 200


@pytest.mark.parametrize("persona", READERS)
def test_every_reader_opens_the_records_of_their_figures(
    persona: str, request: pytest.FixtureRequest
) -> None:
    url = reverse("reports:records", args=["leads"])
    assert _client(request.getfixturevalue(persona)).get(url).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/reports/",
        "/reports/report/",
        "/reports/records/leads/",
        "/reports/report/?format=xlsx",
        "/reports/records/refunds/?format=xlsx",
    ],
)
@pytest.mark.parametrize("persona", NOBODY)
def test_users_without_a_slice_get_404(
    url: str, persona: str, request: pytest.FixtureRequest
) -> None:
    assert _client(request.getfixturevalue(persona)).get(url).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(demo_city: dict[str, int]) -> None:
    response = Client().get(reverse("reports:figures"))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize(
    ("persona", "outside"),
    [
        ("supervisor_xiaonan", data.XIAOGAN),
        ("coordinator_wenchang", data.HUAIYIN),
        ("coordinator_wenchang", data.GUANGCHANG),
        ("area_guangchang", data.WENCHANG),
        ("officer_market", data.XIAOGAN),
    ],
)
@pytest.mark.parametrize("name", ("reports:figures", "reports:report", "reports:records"))
def test_a_slice_outside_the_users_is_404(
    persona: str, outside: str, name: str, request: pytest.FixtureRequest
) -> None:
    url = reverse(name, args=["leads"]) if name == "reports:records" else reverse(name)
    response = _client(request.getfixturevalue(persona)).get(url, {"scope": _key(outside)})
    assert response.status_code == 404


@pytest.mark.parametrize("scope", ["department:999999", "area:999999", "region:x", "nonsense"])
def test_a_slice_that_does_not_exist_is_404(scope: str, supervisor_city: User) -> None:
    response = _client(supervisor_city).get(reverse("reports:figures"), {"scope": scope})
    assert response.status_code == 404


def test_an_unknown_figure_is_404(supervisor_city: User) -> None:
    url = reverse("reports:records", args=["happiness"])
    assert _client(supervisor_city).get(url).status_code == 404


@pytest.mark.parametrize("metric", ["institutions", "visits"])
def test_a_department_has_no_screening_records(metric: str, officer_market: User) -> None:
    url = reverse("reports:records", args=[metric])
    assert _client(officer_market).get(url).status_code == 404


# ------------------------------------------------------------------------- the figures page


def _tile(html: str, metric: str) -> str:
    found = re.search(rf'id="figure-{metric}"[^>]*>\s*<span class="value">([^<]*)<', html)
    assert found, metric
    return found.group(1).strip()


def test_the_page_shows_the_five_figures_of_the_year_to_date(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    period = year_to_date()
    expected = figures.recount(_scope(supervisor_city), period.start, period.end)
    html = _client(supervisor_city).get(reverse("reports:figures")).content.decode()
    assert _tile(html, "person_times") == str(expected.person_times) == "4"
    assert _tile(html, "institutions") == str(expected.institutions) == "3"
    assert _tile(html, "visits") == "3"
    assert _tile(html, "leads") == str(expected.leads) == "4"  # merged and last year's left out
    assert _tile(html, "disguised_cases") == "2"
    assert _tile(html, "refunds") == "171.23"


def test_each_figure_links_to_its_records_on_the_same_slice_and_period(
    supervisor_xiaonan: User, activity: dict[str, Any]
) -> None:
    key = _key(data.GUANGCHANG)
    html = (
        _client(supervisor_xiaonan)
        .get(reverse("reports:figures"), {"scope": key, "period": THIS_QUARTER})
        .content.decode()
    )
    for metric in METRICS:
        link = f'href="{reverse("reports:records", args=[metric])}?scope={key.replace(":", "%3A")}'
        assert f"{link}&amp;period={THIS_QUARTER}" in html


def test_a_region_lists_its_children_to_drill_into(supervisor_xiaonan: User) -> None:
    html = _client(supervisor_xiaonan).get(reverse("reports:figures")).content.decode()
    assert "广场街道" in html
    assert f"scope={_key(data.GUANGCHANG).replace(':', '%3A')}" in html


def test_a_supervisor_drills_into_a_community_below_their_place(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    response = _client(supervisor_city).get(
        reverse("reports:figures"), {"scope": _key(data.HUAIYIN)}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert _tile(html, "leads") == "1"
    assert _tile(html, "refunds") == "1.23"


def test_a_coordinator_counts_only_their_community(
    coordinator_wenchang: User, activity: dict[str, Any]
) -> None:
    html = _client(coordinator_wenchang).get(reverse("reports:figures")).content.decode()
    assert _tile(html, "leads") == "3"
    assert _tile(html, "institutions") == "2"
    assert _tile(html, "refunds") == "170"


def test_a_department_sees_no_institution_figure(
    officer_market: User, activity: dict[str, Any]
) -> None:
    html = _client(officer_market).get(reverse("reports:figures")).content.decode()
    assert 'id="figure-institutions"' not in html
    assert 'id="figure-visits"' not in html
    assert _tile(html, "leads") == "4"


def test_a_custom_range_before_the_activity_counts_nothing(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    html = (
        _client(supervisor_city)
        .get(reverse("reports:figures"), {"start": "2001-01-01", "end": "2001-12-31"})
        .content.decode()
    )
    assert _tile(html, "leads") == "0"
    assert "2001-01-01" in html


def test_the_figures_page_runs_a_bounded_number_of_queries(
    supervisor_xiaonan: User, activity: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    client = _client(supervisor_xiaonan)
    with django_assert_max_num_queries(30):
        assert client.get(reverse("reports:figures")).status_code == 200


# ------------------------------------------------------------------------- the records


def _records(client: Client, metric: str, **params: str) -> Any:
    return client.get(reverse("reports:records", args=[metric]), params)


@pytest.mark.parametrize("metric", METRICS)
def test_the_records_add_up_to_the_figure(
    metric: str, supervisor_city: User, activity: dict[str, Any]
) -> None:
    period = year_to_date()
    figure = figures.recount(_scope(supervisor_city), period.start, period.end).value(metric)
    response = _records(_client(supervisor_city), metric)
    total = re.search(r'id="figure-total">¥?([^<]*)<', response.content.decode())
    assert total is not None
    shown = total.group(1).replace(",", "")
    assert (float(shown) * 100 if metric == "refunds" else int(shown)) == figure
    assert sum(row.weight for row in response.context["page"]) == figure


def test_each_record_links_to_its_page(supervisor_city: User, activity: dict[str, Any]) -> None:
    html = _records(_client(supervisor_city), "leads").content.decode()
    for lead in activity["wenchang"]:
        assert reverse("leads:detail", args=[lead.pk]) in html
    assert reverse("leads:detail", args=[activity["merged"].pk]) not in html
    assert reverse("leads:detail", args=[activity["old"].pk]) not in html


def test_refunds_are_listed_in_yuan(supervisor_city: User, activity: dict[str, Any]) -> None:
    html = _records(_client(supervisor_city), "refunds").content.decode()
    assert "¥1,700,000.00" in html
    assert "¥12,345.00" in html
    assert "¥1,712,345.00" in html


def test_records_are_paged_and_every_page_holds_the_rest(
    supervisor_city: User, activity: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bihuan.reports.views_figures.PER_PAGE", 3)
    client = _client(supervisor_city)
    first = _records(client, "leads")
    second = _records(client, "leads", page="2")
    labels = [r.label for r in first.context["page"]] + [r.label for r in second.context["page"]]
    assert first.context["page"].paginator.num_pages == 2
    assert len(labels) == len(set(labels)) == 4


def test_the_records_export_holds_every_row(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    response = _records(_client(supervisor_city), "refunds", format="xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert sorted(float(str(r[-1])) for r in rows) == [12345, 1700000]


def test_the_records_page_runs_a_bounded_number_of_queries(
    supervisor_city: User, activity: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    client = _client(supervisor_city)
    for metric in METRICS:
        with django_assert_max_num_queries(25):
            assert _records(client, metric).status_code == 200


# ------------------------------------------------------------------------- the report


def test_the_report_opens_with_the_articles_sentence(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    response = _client(supervisor_city).get(reverse("reports:report"))
    html = response.content.decode()
    assert (
        "今年以来，出动检查人员4人次，摸排机构3家，反馈线索4条，"
        "查处隐形变异学科培训2次，清退培训费用171.23万元。"
    ) in html
    assert html.index('id="sentence"') < html.index('id="figures"')
    assert "Save as PDF" in html


def test_a_past_year_opens_with_its_number(supervisor_city: User) -> None:
    response = _client(supervisor_city).get(reverse("reports:report"), {"period": LAST_YEAR})
    assert response.context["report"].sentence.startswith(f"{LAST_YEAR}年，出动检查人员")


def test_the_report_compares_with_the_previous_period(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    report = _client(supervisor_city).get(reverse("reports:report")).context["report"]
    leads = next(line for line in report.lines if line.metric == "leads")
    assert (leads.current, leads.previous, leads.change, leads.percent) == (4, 1, 3, 300.0)
    refunds = next(line for line in report.lines if line.metric == "refunds")
    assert (refunds.previous, refunds.percent_shown) == (0, "—")


def test_the_report_breaks_leads_and_cases_down(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    report = _client(supervisor_city).get(reverse("reports:report")).context["report"]
    by_source = {row.label: row.count for row in report.by_source}
    assert by_source["inspection"] == 4
    assert sum(by_source.values()) == 4
    by_group = {row.label.split(" ")[0]: row.count for row in report.by_group}
    assert by_group["B"] == 3  # the three 文昌 leads of type B3
    assert by_group["not"] == 1  # the 槐荫 lead, not classified
    by_outcome = {row.label: row.count for row in report.by_outcome}
    assert by_outcome["blacklisted"] == 2
    assert by_outcome["penalty"] == 0


def test_the_report_lists_each_region_below(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    report = _client(supervisor_city).get(reverse("reports:report")).context["report"]
    children = {row.code: row.figures for row in report.children}
    assert set(children) == set(
        Region.objects.filter(parent__code=data.XIAOGAN).values_list("code", flat=True)
    )
    assert children[data.XIAONAN].leads == 4
    assert sum(c.leads for c in children.values()) == 4


@pytest.mark.parametrize(
    ("token", "kind"), [(THIS_MONTH, "month"), (THIS_QUARTER, "quarter"), (LAST_YEAR, "year")]
)
def test_a_report_is_monthly_quarterly_or_yearly(
    token: str, kind: str, supervisor_city: User
) -> None:
    response = _client(supervisor_city).get(reverse("reports:report"), {"period": token})
    assert response.context["report"].period.kind == kind


def test_the_report_downloads_as_xlsx_with_the_sentence_first(
    supervisor_city: User, activity: dict[str, Any]
) -> None:
    response = _client(supervisor_city).get(reverse("reports:report"), {"format": "xlsx"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    summary = book.worksheets[0]
    period = year_to_date()
    numbers = figures.recount(_scope(supervisor_city), period.start, period.end)
    assert summary["A2"].value == article_sentence(numbers, period, timezone.localdate())
    names = book.sheetnames
    assert {"Leads by source", "Leads by violation group", "Cases by outcome", "By region"} <= set(
        names
    )
    refunds = book["Fees refunded"]
    amounts = [float(str(r[-1])) for r in refunds.iter_rows(min_row=2, values_only=True)]
    assert sum(amounts) == 1712345
    leads = book["Leads fed back"]
    assert leads.max_row - 1 == numbers.leads


def test_a_department_report_has_no_institution_sheet(
    officer_market: User, activity: dict[str, Any]
) -> None:
    response = _client(officer_market).get(reverse("reports:report"), {"format": "xlsx"})
    book = load_workbook(io.BytesIO(response.content))
    assert "Institutions screened" not in book.sheetnames
    assert "摸排机构" not in str(book.worksheets[0]["A2"].value)


@pytest.mark.parametrize(
    "persona", ["supervisor_city", "supervisor_xiaonan", "coordinator_wenchang"]
)
def test_the_report_runs_a_bounded_number_of_queries_per_region_below(
    persona: str,
    activity: dict[str, Any],
    django_assert_max_num_queries: Any,
    request: pytest.FixtureRequest,
) -> None:
    user = request.getfixturevalue(persona)
    children = Region.objects.filter(parent_id=scopes_of(user)[0].id).count()
    # The page's own queries (two sets of figures, the breakdowns), then one set of figures for
    # each region below the slice: a recount of ~13 queries without rollups, fewer with them.
    with django_assert_max_num_queries(55 + 14 * children):
        assert _client(user).get(reverse("reports:report")).status_code == 200


def test_a_coordinators_report_counts_only_their_community(
    coordinator_wenchang: User, activity: dict[str, Any]
) -> None:
    report = _client(coordinator_wenchang).get(reverse("reports:report")).context["report"]
    assert "反馈线索3条" in report.sentence
    assert report.children == []
    assert scopes_of(coordinator_wenchang)[0].label == "文昌社区"


def test_the_period_picker_offers_this_year_first(supervisor_city: User) -> None:
    response = _client(supervisor_city).get(reverse("reports:report"), {"period": THIS_QUARTER})
    units = response.context["units"]
    assert units[0] == year_to_date()
    assert parse_token(THIS_QUARTER) in units
    assert response.context["period"] == parse_token(THIS_QUARTER)


def test_an_older_period_reached_by_link_stays_selected(supervisor_city: User) -> None:
    response = _client(supervisor_city).get(reverse("reports:figures"), {"period": "2015-03"})
    assert response.context["period"] in response.context["units"]
    assert 'value="2015-03" selected' in response.content.decode()


def test_a_report_sheet_too_long_says_where_it_was_cut(
    supervisor_city: User, activity: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bihuan.core.exports.MAX_EXPORT_ROWS", 1)
    response = _client(supervisor_city).get(reverse("reports:report"), {"format": "xlsx"})
    leads = load_workbook(io.BytesIO(response.content))["Leads fed back"]
    rows = list(leads.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 2
    assert "Cut at 1 rows" in str(rows[-1][0])
