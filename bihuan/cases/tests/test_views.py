"""The case pages: who sees which case, what the forms do with and without htmx, the export.

Out of scope is a 404; so is an action the user may not take. Refused posts change nothing.
"""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import gettext
from openpyxl import load_workbook

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.cases import services
from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus
from bihuan.cases.tests import factories
from bihuan.cases.views import lead_panel_context

XIAOCHANG = "420921"
PERSONAS = [
    "supervisor_city",
    "supervisor_xiaonan",
    "officer_market",
    "coordinator_wenchang",
    "school_tiyulu",
    "inspector_wenchang",
    "area_guangchang",
    "admin_system",
    "admin_audit",
]
# Which of the two cases (文昌社区, 孝昌县) each persona sees.
SEES: dict[str, set[str]] = {
    "supervisor_city": {"wenchang", "xiaochang"},
    "supervisor_xiaonan": {"wenchang"},
    "officer_market": {"wenchang", "xiaochang"},
    "coordinator_wenchang": {"wenchang"},
    "school_tiyulu": set(),
    "inspector_wenchang": set(),
    "area_guangchang": {"wenchang"},
    "admin_system": set(),
    "admin_audit": set(),
}
RECORDERS = {"supervisor_city", "supervisor_xiaonan", "officer_market"}
HTMX = {"HX-Request": "true"}


@pytest.fixture
def cases(demo_city: dict[str, int]) -> dict[str, Case]:
    wenchang = factories.case_make(
        factories.dispatched_lead(
            institution=factories.institution_make("文昌启航教育"), violation_codes=("B1",)
        )
    )
    xiaochang = factories.case_make(
        factories.dispatched_lead(
            region_code=XIAOCHANG,
            institution=factories.institution_make("孝昌飞扬体育", XIAOCHANG),
            in_area=False,
        )
    )
    return {"wenchang": wenchang, "xiaochang": xiaochang}


def _login(client: Client, request: pytest.FixtureRequest, persona: str) -> User:
    user: User = request.getfixturevalue(persona)
    client.force_login(user)
    return user


def _state() -> tuple[Any, ...]:
    return (
        list(Case.objects.order_by("pk").values()),
        list(Refund.objects.order_by("pk").values()),
        Event.objects.count(),
    )


def _shown(content: bytes, cases: dict[str, Case]) -> set[str]:
    text = content.decode()
    return {key for key, case in cases.items() if f"/cases/{case.pk}/" in text}


def _xlsx_rows(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


# Reading.


@pytest.mark.parametrize("persona", PERSONAS)
def test_list_shows_exactly_the_cases_in_scope(
    client: Client, request: pytest.FixtureRequest, cases: dict[str, Case], persona: str
) -> None:
    _login(client, request, persona)
    response = client.get("/cases/")
    assert response.status_code == 200
    assert _shown(response.content, cases) == SEES[persona]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("place", ["wenchang", "xiaochang"])
def test_case_page_is_404_outside_the_scope(
    client: Client,
    request: pytest.FixtureRequest,
    cases: dict[str, Case],
    persona: str,
    place: str,
) -> None:
    _login(client, request, persona)
    response = client.get(f"/cases/{cases[place].pk}/")
    assert response.status_code == (200 if place in SEES[persona] else 404)


def test_case_page_links_the_lead_and_shows_the_forms_of_a_recorder(
    client: Client, officer_market: User, cases: dict[str, Case]
) -> None:
    client.force_login(officer_market)
    case = cases["wenchang"]
    content = client.get(f"/cases/{case.pk}/").content.decode()
    assert f'href="/leads/{case.lead_id}/"' in content
    assert case.lead.reference in content
    assert "文昌启航教育" in content
    for action in ("rectification", "penalty", "closure", "blacklist", "refund"):
        assert f"/cases/{case.pk}/{action}/" in content
    assert "/verify/" not in content


def test_case_page_of_a_reader_has_no_forms(
    client: Client, coordinator_wenchang: User, cases: dict[str, Case]
) -> None:
    client.force_login(coordinator_wenchang)
    case = cases["wenchang"]
    content = client.get(f"/cases/{case.pk}/").content.decode()
    assert f"/cases/{case.pk}/penalty/" not in content
    assert f"/cases/{case.pk}/refund/" not in content


def test_anonymous_visitor_is_sent_to_login(client: Client, cases: dict[str, Case]) -> None:
    response = client.get("/cases/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# Writing through the pages.


@pytest.mark.parametrize("persona", PERSONAS)
def test_penalty_post_is_taken_only_from_recorders_in_scope(
    client: Client, request: pytest.FixtureRequest, cases: dict[str, Case], persona: str
) -> None:
    _login(client, request, persona)
    case = cases["wenchang"]
    before = _state()
    response = client.post(
        f"/cases/{case.pk}/penalty/",
        {"penalty-amount": "1,250.50", "penalty-basis": "第十八条", "penalty-document": ""},
    )
    if persona in RECORDERS:
        assert response.status_code == 302
        assert response["Location"] == f"/cases/{case.pk}/"
        case.refresh_from_db()
        assert case.penalty_fen == 125_050
    else:
        assert response.status_code == 404
        assert _state() == before


def test_post_on_a_case_outside_the_scope_is_404(
    client: Client, supervisor_xiaonan: User, cases: dict[str, Case]
) -> None:
    client.force_login(supervisor_xiaonan)
    before = _state()
    response = client.post(
        f"/cases/{cases['xiaochang'].pk}/closure/", {"closure-note": "取缔"}, headers=HTMX
    )
    assert response.status_code == 404
    assert _state() == before


def test_unknown_action_is_404(
    client: Client, supervisor_city: User, cases: dict[str, Case]
) -> None:
    client.force_login(supervisor_city)
    assert client.post(f"/cases/{cases['wenchang'].pk}/erase/").status_code == 404


def test_htmx_post_with_a_bad_amount_returns_the_panel_with_the_error(
    client: Client, officer_market: User, cases: dict[str, Case]
) -> None:
    client.force_login(officer_market)
    case = cases["wenchang"]
    before = _state()
    response = client.post(
        f"/cases/{case.pk}/refund/",
        {"refund-amount": "12.345", "refund-families": "3"},
        headers=HTMX,
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="case-panel">')
    assert gettext("An amount has at most two decimals (fen).") in content
    assert 'value="12.345"' in content
    assert _state() == before


def test_htmx_refund_report_returns_the_panel_with_the_refund(
    client: Client, officer_market: User, cases: dict[str, Case]
) -> None:
    client.force_login(officer_market)
    case = cases["wenchang"]
    response = client.post(
        f"/cases/{case.pk}/refund/",
        {"refund-amount": "17000", "refund-families": "12", "refund-note": "清退"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "¥17,000.00" in response.content.decode()
    refund = Refund.objects.get(case=case)
    assert (refund.amount_fen, refund.families) == (1_700_000, 12)


def test_service_refusal_is_shown_without_js(
    client: Client, supervisor_city: User, cases: dict[str, Case]
) -> None:
    client.force_login(supervisor_city)
    case = cases["wenchang"]
    before = _state()
    response = client.post(f"/cases/{case.pk}/conclude/", {"conclude-summary": "已处理"})
    assert response.status_code == 302
    assert _state() == before
    page = client.get(response["Location"]).content.decode()
    assert (
        gettext("Record at least one outcome (rectification, penalty, closure or blacklisting).")
        in page
    )


def test_rectification_in_the_past_is_refused_on_the_form(
    client: Client, officer_market: User, cases: dict[str, Case]
) -> None:
    client.force_login(officer_market)
    case = cases["wenchang"]
    before = _state()
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    response = client.post(
        f"/cases/{case.pk}/rectification/",
        {"rectification-order_text": "整改", "rectification-due": yesterday.isoformat()},
        headers=HTMX,
    )
    assert gettext("The date to rectify by cannot be in the past.") in response.content.decode()
    assert _state() == before


def test_refund_is_verified_once_through_the_page(
    client: Client, supervisor_city: User, officer_market: User, cases: dict[str, Case]
) -> None:
    case = cases["wenchang"]
    refund = services.refund_report(actor=officer_market, case=case, amount_fen=500, families=1)
    client.force_login(supervisor_city)
    response = client.post(f"/cases/refunds/{refund.pk}/verify/", headers=HTMX)
    assert response.status_code == 200
    refund.refresh_from_db()
    assert refund.status == RefundStatus.VERIFIED
    before = _state()
    again = client.post(f"/cases/refunds/{refund.pk}/verify/")
    assert again.status_code == 302
    assert _state() == before
    assert (
        gettext("This refund was already verified.")
        in client.get(again["Location"]).content.decode()
    )


def test_officer_cannot_verify_through_the_page(
    client: Client, officer_market: User, cases: dict[str, Case]
) -> None:
    refund = services.refund_report(
        actor=officer_market, case=cases["wenchang"], amount_fen=500, families=1
    )
    client.force_login(officer_market)
    before = _state()
    assert client.post(f"/cases/refunds/{refund.pk}/verify/").status_code == 404
    assert (
        client.post(f"/cases/refunds/{refund.pk}/reject/", {"reject-reason": "x"}).status_code
        == 404
    )
    assert _state() == before


def test_refund_reject_needs_a_reason_on_the_form(
    client: Client, supervisor_city: User, cases: dict[str, Case]
) -> None:
    refund = services.refund_report(
        actor=supervisor_city, case=cases["wenchang"], amount_fen=500, families=1
    )
    client.force_login(supervisor_city)
    before = _state()
    response = client.post(
        f"/cases/refunds/{refund.pk}/reject/", {"reject-reason": ""}, headers=HTMX
    )
    assert response.status_code == 200
    assert _state() == before
    client.post(f"/cases/refunds/{refund.pk}/reject/", {"reject-reason": "凭证不全"})
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED


# Opening a case from the lead page.


def test_lead_panel_offers_to_open_a_case(
    rf: RequestFactory, officer_market: User, demo_city: dict[str, int]
) -> None:
    lead = factories.dispatched_lead()
    request = rf.get(f"/leads/{lead.pk}/")
    request.user = officer_market
    html = render_to_string(
        "cases/_lead_panel.html", lead_panel_context(request, lead), request=request
    )
    assert f'action="/cases/open/{lead.pk}/"' in html


def test_lead_panel_without_rights_offers_nothing(
    rf: RequestFactory, coordinator_wenchang: User, demo_city: dict[str, int]
) -> None:
    lead = factories.dispatched_lead()
    request = rf.get(f"/leads/{lead.pk}/")
    request.user = coordinator_wenchang
    html = render_to_string(
        "cases/_lead_panel.html", {"lead": lead, "case": None, "can_record": False}
    )
    assert "/cases/open/" not in html
    assert lead_panel_context(request, lead)["can_record"] is False


def test_open_posts_create_the_case_with_and_without_htmx(
    client: Client, officer_market: User, demo_city: dict[str, int]
) -> None:
    client.force_login(officer_market)
    plain = factories.dispatched_lead()
    response = client.post(f"/cases/open/{plain.pk}/")
    case = Case.objects.get(lead=plain)
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.pk}/"
    with_htmx = factories.dispatched_lead()
    response = client.post(f"/cases/open/{with_htmx.pk}/", headers=HTMX)
    assert response.status_code == 200
    case = Case.objects.get(lead=with_htmx)
    assert f"/cases/{case.pk}/" in response.content.decode()


@pytest.mark.parametrize("persona", ["coordinator_wenchang", "supervisor_xiaonan", "admin_system"])
def test_open_is_404_for_those_who_may_not(
    client: Client, request: pytest.FixtureRequest, persona: str, demo_city: dict[str, int]
) -> None:
    _login(client, request, persona)
    lead = factories.dispatched_lead(region_code=XIAOCHANG, in_area=False)
    if persona == "coordinator_wenchang":
        lead = factories.dispatched_lead()
    before = _state()
    assert client.post(f"/cases/open/{lead.pk}/").status_code == 404
    assert _state() == before


# The list: filters, sort, export, queries.


def test_list_filters_by_status_disguise_refunds_and_region(
    client: Client, supervisor_city: User, officer_market: User, cases: dict[str, Case]
) -> None:
    wenchang = cases["wenchang"]
    services.case_order_closure(actor=supervisor_city, case=wenchang)
    services.case_conclude(actor=supervisor_city, case=wenchang, summary="已处理")
    services.refund_report(actor=officer_market, case=wenchang, amount_fen=100, families=1)
    client.force_login(supervisor_city)

    def shown(query: str) -> set[str]:
        return _shown(client.get(f"/cases/?{query}").content, cases)

    assert shown("status=concluded") == {"wenchang"}
    assert shown("status=open") == {"xiaochang"}
    assert shown("disguised=1") == {"wenchang"}
    assert shown("disguised=0") == {"xiaochang"}
    assert shown("refunds=1") == {"wenchang"}
    assert shown("refunds=0") == {"xiaochang"}
    assert shown("region=孝昌") == {"xiaochang"}
    assert shown("region=文昌社区") == {"wenchang"}
    assert shown("region=420902") == {"wenchang"}
    assert shown("region=nowhere") == set()
    assert shown("status=bogus&sort=bogus") == {"wenchang", "xiaochang"}


def test_list_sorts_by_conclusion(
    client: Client, supervisor_city: User, cases: dict[str, Case]
) -> None:
    for key in ("xiaochang", "wenchang"):
        services.case_order_closure(actor=supervisor_city, case=cases[key])
        services.case_conclude(actor=supervisor_city, case=cases[key], summary="已处理")
    client.force_login(supervisor_city)
    content = client.get("/cases/?sort=concluded").content.decode()
    first = content.index(f"/cases/{cases['xiaochang'].pk}/")
    assert first < content.index(f"/cases/{cases['wenchang'].pk}/")
    content = client.get("/cases/?sort=-concluded").content.decode()
    assert content.index(f"/cases/{cases['wenchang'].pk}/") < content.index(
        f"/cases/{cases['xiaochang'].pk}/"
    )


def test_export_gives_amounts_in_yuan(
    client: Client, supervisor_city: User, cases: dict[str, Case]
) -> None:
    case = cases["wenchang"]
    services.case_record_penalty(actor=supervisor_city, case=case, amount_fen=125_050, basis="依据")
    verified = services.refund_report(
        actor=supervisor_city, case=case, amount_fen=1_700_000, families=12
    )
    services.refund_verify(actor=supervisor_city, refund=verified)
    services.refund_report(actor=supervisor_city, case=case, amount_fen=99, families=1)
    client.force_login(supervisor_city)
    response = client.get("/cases/?format=xlsx&region=文昌")
    rows = _xlsx_rows(response.content)
    assert len(rows) == 2
    row = rows[1]
    assert row[0] == case.lead.reference
    assert row[9] == pytest.approx(1250.50)
    assert row[13] == 2  # refunds reported
    assert row[14] == pytest.approx(17000)  # verified only
    assert row[15] == 12


def test_list_htmx_returns_only_the_results(
    client: Client, supervisor_city: User, cases: dict[str, Case]
) -> None:
    client.force_login(supervisor_city)
    content = client.get("/cases/?status=open", headers=HTMX).content.decode()
    assert content.lstrip().startswith('<div id="results">')


def test_list_query_count_does_not_grow_with_cases(
    client: Client, supervisor_city: User, officer_market: User, cases: dict[str, Case]
) -> None:
    client.force_login(supervisor_city)
    client.get("/cases/")  # warm the session and the caches

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/cases/").status_code == 200
        return len(queries)

    few = count()
    for _ in range(4):
        case = factories.case_make(
            factories.dispatched_lead(institution=factories.institution_make("又一家"))
        )
        services.refund_report(actor=officer_market, case=case, amount_fen=100, families=1)
    assert count() == few
    assert few <= 10


def test_concluded_case_page_offers_refunds_only(
    client: Client, officer_market: User, cases: dict[str, Case]
) -> None:
    case = cases["wenchang"]
    services.case_order_closure(actor=officer_market, case=case)
    services.case_conclude(actor=officer_market, case=case, summary="已处理")
    client.force_login(officer_market)
    content = client.get(f"/cases/{case.pk}/").content.decode()
    assert f"/cases/{case.pk}/refund/" in content
    assert f"/cases/{case.pk}/penalty/" not in content
    assert Case.objects.get(pk=case.pk).status == CaseStatus.CONCLUDED
