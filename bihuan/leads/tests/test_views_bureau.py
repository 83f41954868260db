"""The bureau's pages: the queue, reporting, the lead page and its actions, joint operations.

The story: 体育路学校 reports a home-based one-on-one class; the bureau accepts it as B3 and
dispatches it to 孝南区教育局 (lead) and 孝南区市场监管局 (assisting); the market officer
returns his order naming 市公安局, the bureau reassigns it, accepts the replies, confirms and
records the joint operation and closes the lead. Out of scope is a 404; every refused POST is
checked against the database.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from bihuan.accounts.models import Department, User
from bihuan.audit.models import Event
from bihuan.audit.services import event_record
from bihuan.core.exports import XLSX_TYPE
from bihuan.demo.data import WENCHANG
from bihuan.leads import services
from bihuan.leads.models import JointOperation, Lead, ViolationType, WorkOrder
from bihuan.leads.timeline import lead_timeline
from bihuan.leads.workflow import JointStatus, LeadSource, LeadStatus, OrderStatus
from bihuan.registry import services as registry_services
from bihuan.registry.models import Institution, Source
from bihuan.territory.models import Region, Sentinel

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
EDUCATION = "孝南区教育局"
MARKET = "孝南区市场监管局"
POLICE = "市公安局"
PLACE = "张老师家（住家教师）"
REPORTER_NAME = "李四"
REPORTER_PHONE = "13812345678"
MASKED_PHONE = "138****5678"


@pytest.fixture(autouse=True)
def _media_and_language(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # The assertions read the English strings; the Chinese catalogue is filled separately.
    settings.LANGUAGE_CODE = "en"


def _department(short_name: str) -> Department:
    return Department.objects.get(short_name=short_name)


def _b3() -> ViolationType:
    return ViolationType.objects.get(code="B3")


def _school_report(school: User, description: str = "学生反映周末在家上一对一数学课") -> Lead:
    return services.lead_create(
        actor=school,
        source=LeadSource.SCHOOL,
        description=description,
        place_name=PLACE,
        address="文昌社区体育路12号3栋",
        sentinel=Sentinel.objects.get(name="体育路学校"),
    )


def _login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def new_lead(school_tiyulu: User) -> Lead:
    return _school_report(school_tiyulu)


@pytest.fixture
def dispatched(new_lead: Lead, supervisor_city: User) -> Lead:
    services.lead_accept(actor=supervisor_city, lead=new_lead, violation_types=[_b3()])
    return services.lead_dispatch(actor=supervisor_city, lead=new_lead)


@pytest.fixture
def xiaochang_lead(supervisor_city: User) -> Lead:
    """A lead in 孝昌县: the city's, outside 孝南区's supervisor's place."""
    return services.lead_create(
        actor=supervisor_city,
        source=LeadSource.BUREAU,
        description="群众来电反映",
        place_name="孝昌某培训点",
        region=Region.objects.get(code="420921"),
    )


def _state() -> tuple[Any, ...]:
    return (
        list(Lead.objects.order_by("pk").values_list("pk", "status", "institution_id")),
        list(WorkOrder.objects.order_by("pk").values_list("pk", "status", "urge_count")),
        list(JointOperation.objects.order_by("pk").values_list("pk", "status")),
        Event.objects.count(),
    )


def _order(lead: Lead, short_name: str) -> WorkOrder:
    return lead.work_orders.get(department__short_name=short_name, status__in=list(OrderStatus))


# ---------------------------------------------------------------------------- who sees which page

PERSONAS = [
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "inspector_wenchang",
    "officer_market_xiaonan",
    "officer_market",
    "school_tiyulu",
    "area_guangchang",
    "admin_system",
]
# persona → status of: queue, report, mine, the new lead's page, joint planner
EXPECTED = {
    "supervisor_city": (200, 200, 200, 200, 200),
    "supervisor_xiaonan": (200, 200, 200, 200, 200),
    "coordinator_wenchang": (404, 200, 200, 200, 404),
    "inspector_wenchang": (404, 404, 404, 404, 404),
    "officer_market_xiaonan": (302, 404, 404, 404, 200),
    "officer_market": (302, 404, 404, 404, 200),
    "school_tiyulu": (404, 200, 200, 200, 404),
    "area_guangchang": (404, 404, 404, 200, 200),
    "admin_system": (404, 404, 404, 404, 404),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_page_answers_each_persona_as_its_roles_allow(
    persona: str, request: pytest.FixtureRequest, client: Client, new_lead: Lead
) -> None:
    _login(client, request.getfixturevalue(persona))
    pages = ["/leads/", "/leads/new/", "/leads/mine/", f"/leads/{new_lead.pk}/", "/leads/joint/"]
    got = tuple(client.get(page).status_code for page in pages)
    assert got == EXPECTED[persona]


def test_a_stranger_is_sent_to_sign_in(client: Client, new_lead: Lead) -> None:
    for page in ["/leads/", "/leads/new/", f"/leads/{new_lead.pk}/", "/leads/joint/"]:
        response = client.get(page)
        assert response.status_code == 302
        assert "login" in response["Location"]


def test_an_officer_opening_the_queue_lands_in_his_inbox(
    client: Client, officer_market_xiaonan: User
) -> None:
    response = _login(client, officer_market_xiaonan).get("/leads/")
    assert response["Location"] == "/leads/orders/"


REFUSERS = [
    "coordinator_wenchang",
    "school_tiyulu",
    "officer_market_xiaonan",
    "officer_education_xiaonan",
    "area_guangchang",
    "admin_system",
    "inspector_wenchang",
]


@pytest.mark.parametrize("persona", REFUSERS)
def test_triage_posts_of_others_are_404_and_change_nothing(
    persona: str, request: pytest.FixtureRequest, client: Client, dispatched: Lead
) -> None:
    fresh = _school_report(request.getfixturevalue("school_tiyulu"), "另一条")
    order = _order(dispatched, EDUCATION)
    b3 = str(_b3().pk)
    posts = [
        (f"/leads/{fresh.pk}/do/accept/", {"violation_types": [b3]}),
        (f"/leads/{fresh.pk}/do/classify/", {"violation_types": [b3]}),
        (f"/leads/{fresh.pk}/do/dismiss/", {"reason": "不是校外培训"}),
        (f"/leads/{fresh.pk}/do/merge/", {"reference": dispatched.reference}),
        (f"/leads/{dispatched.pk}/orders/{order.pk}/urge/", {"note": "请尽快"}),
        (f"/leads/{dispatched.pk}/orders/{order.pk}/supervise/", {"note": "督办"}),
    ]
    _login(client, request.getfixturevalue(persona))
    before = _state()
    for path, data in posts:
        assert client.post(path, data).status_code == 404, path
        assert client.post(path, data, **HTMX).status_code == 404, path
    assert _state() == before


def test_a_supervisor_of_another_district_gets_404_for_its_leads(
    client: Client, supervisor_xiaonan: User, xiaochang_lead: Lead
) -> None:
    _login(client, supervisor_xiaonan)
    before = _state()
    assert client.get(f"/leads/{xiaochang_lead.pk}/").status_code == 404
    response = client.post(f"/leads/{xiaochang_lead.pk}/do/dismiss/", {"reason": "重复"})
    assert response.status_code == 404
    assert _state() == before
    assert xiaochang_lead.reference not in client.get("/leads/?tab=all").content.decode()


def test_the_city_supervisor_sees_every_district_in_the_queue(
    client: Client, supervisor_city: User, xiaochang_lead: Lead, new_lead: Lead
) -> None:
    html = _login(client, supervisor_city).get("/leads/?tab=new").content.decode()
    assert xiaochang_lead.reference in html
    assert new_lead.reference in html


# ---------------------------------------------------------------------------- the queue


def test_the_queue_filters_by_region_text_source_and_tab(
    client: Client, supervisor_city: User, xiaochang_lead: Lead, dispatched: Lead
) -> None:
    _login(client, supervisor_city)

    def refs(query: str) -> set[str]:
        html = client.get(f"/leads/{query}").content.decode()
        return set(re.findall(r"XS\d{11}", html))

    assert refs("?tab=all&region=420921") == {xiaochang_lead.reference}
    assert refs("?tab=all&q=张老师") == {dispatched.reference}
    assert refs("?tab=all&source=school") == {dispatched.reference}
    assert refs("?tab=dispatched") == {dispatched.reference}
    assert refs("?tab=new") == {xiaochang_lead.reference}
    assert refs("?tab=all&type=b3") == {dispatched.reference}


def test_the_queue_finds_a_lead_by_the_whole_reporter_phone_only(
    client: Client, supervisor_city: User, xiaochang_lead: Lead
) -> None:
    lead = services.lead_create(
        actor=supervisor_city,
        source=LeadSource.TIP,
        description="家长电话",
        place_name=PLACE,
        region=Region.objects.get(code=WENCHANG),
        reporter_phone=REPORTER_PHONE,
    )
    _login(client, supervisor_city)

    def refs(query: str) -> set[str]:
        html = client.get("/leads/", {"tab": "all", "q": query}).content.decode()
        return set(re.findall(r"XS\d{11}", html))

    assert refs("+86 138 1234 5678") == {lead.reference}
    assert refs(REPORTER_PHONE[3:]) == set()  # the phone is encrypted: part of it cannot match


def test_an_overdue_lead_is_in_the_overdue_tab_and_shown_in_red(
    client: Client, supervisor_city: User, new_lead: Lead, xiaochang_lead: Lead
) -> None:
    Lead.objects.filter(pk=new_lead.pk).update(due_at=timezone.now() - timedelta(days=1))
    html = _login(client, supervisor_city).get("/leads/?tab=overdue").content.decode()
    assert new_lead.reference in html
    assert xiaochang_lead.reference not in html
    assert 'class="error"' in html


def test_the_queue_exports_the_filtered_list_as_xlsx(
    client: Client, supervisor_city: User, new_lead: Lead, xiaochang_lead: Lead
) -> None:
    response = _login(client, supervisor_city).get("/leads/?tab=all&region=420902&format=xlsx")
    assert response["Content-Type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert [row[0] for row in rows[1:]] == [new_lead.reference]


def test_an_htmx_queue_request_gets_only_the_results(
    client: Client, supervisor_city: User, new_lead: Lead
) -> None:
    html = _login(client, supervisor_city).get("/leads/?tab=new", **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="results">')
    assert new_lead.reference in html


def test_the_queue_query_count_does_not_grow_with_rows(
    client: Client, supervisor_city: User, school_tiyulu: User, django_assert_max_num_queries: Any
) -> None:
    _login(client, supervisor_city)
    for n in range(3):
        _school_report(school_tiyulu, f"线索{n}")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/leads/?tab=all").status_code == 200
    for n in range(27):
        lead = _school_report(school_tiyulu, f"更多线索{n}")
        if n % 3 == 0:
            services.lead_accept(actor=supervisor_city, lead=lead, violation_types=[_b3()])
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get("/leads/?tab=all").content.decode()
    assert len(re.findall(r"XS\d{11}</a>", html)) == 30


# ---------------------------------------------------------------------------- reporting


def _report_token(client: Client) -> str:
    html = client.get("/leads/new/").content.decode()
    return re.search(r'name="token" value="([0-9a-f]+)"', html).group(1)  # type: ignore[union-attr]


def test_a_school_sentinel_reports_for_their_school_and_sees_it_in_mine(
    client: Client, school_tiyulu: User, supervisor_city: User
) -> None:
    other = services.lead_create(
        actor=supervisor_city,
        source=LeadSource.BUREAU,
        description="他人的线索",
        place_name="别处",
        region=Region.objects.get(code=WENCHANG),
    )
    _login(client, school_tiyulu)
    data = {
        "token": _report_token(client),
        "source": LeadSource.BUREAU,  # ignored: a sentinel reports as the school
        "sentinel": str(Sentinel.objects.get(name="体育路学校").pk),
        "description": "家长说孩子在住家老师那里补课",
        "place_name": PLACE,
        "address": "体育路12号",
    }
    response = client.post("/leads/new/", data)
    assert response.status_code == 302
    assert response["Location"] == "/leads/mine/"
    lead = Lead.objects.get(description="家长说孩子在住家老师那里补课")
    assert (lead.source, lead.sentinel.name, lead.reporter) == (  # type: ignore[union-attr]
        LeadSource.SCHOOL,
        "体育路学校",
        school_tiyulu,
    )
    mine = client.get("/leads/mine/").content.decode()
    assert lead.reference in mine
    assert other.reference not in mine


def test_a_second_submit_of_the_same_report_creates_nothing(
    client: Client, supervisor_city: User
) -> None:
    _login(client, supervisor_city)
    data = {
        "token": _report_token(client),
        "source": LeadSource.TIP,
        "description": "电话举报",
        "place_name": "某小区补课点",
        "region": WENCHANG,
        "reporter_name": REPORTER_NAME,
        "reporter_phone": REPORTER_PHONE,
        "violation_types": [str(_b3().pk)],
    }
    assert client.post("/leads/new/", data).status_code == 302
    count = Lead.objects.count()
    second = client.post("/leads/new/", data, follow=True)
    assert Lead.objects.count() == count
    assert "already submitted" in second.content.decode()
    lead = Lead.objects.get(description="电话举报")
    assert list(lead.violation_types.values_list("code", flat=True)) == ["B3"]


def test_a_refused_report_shows_the_error_and_a_fresh_token(
    client: Client, supervisor_city: User
) -> None:
    _login(client, supervisor_city)
    token = _report_token(client)
    response = client.post(
        "/leads/new/", {"token": token, "source": LeadSource.BUREAU, "description": "没有地点"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Name the institution, or give the place" in html
    assert token not in html
    assert Lead.objects.count() == 0


def test_a_bad_evidence_file_refuses_the_report_with_a_message(
    client: Client, supervisor_city: User
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    _login(client, supervisor_city)
    data = {
        "token": _report_token(client),
        "source": LeadSource.BUREAU,
        "description": "附件不对",
        "place_name": "某处",
        "region": WENCHANG,
        "evidence": [SimpleUploadedFile("x.png", b"not an image", content_type="image/png")],
    }
    response = client.post("/leads/new/", data)
    assert response.status_code == 200
    assert "is not a JPEG, PNG or WebP photo or a PDF file" in response.content.decode()
    assert Lead.objects.count() == 0


@pytest.fixture
def qihang(supervisor_city: User) -> Institution:
    return registry_services.institution_create(
        actor=supervisor_city,
        name="孝南区启航教育培训中心",
        region=Region.objects.get(code=WENCHANG),
        source=Source.MANUAL,
        address="文昌社区体育路8号",
    )


def test_the_institution_search_offers_records_of_the_users_place(
    client: Client, supervisor_xiaonan: User, school_tiyulu: User, qihang: Institution
) -> None:
    html = (
        _login(client, supervisor_xiaonan)
        .get("/leads/new/institutions/", {"q": "启航"}, **HTMX)
        .content.decode()
    )
    assert f'value="{qihang.pk}"' in html
    school = _login(Client(), school_tiyulu).get("/leads/new/institutions/", {"q": "启航"})
    assert f'value="{qihang.pk}"' in school.content.decode()


def test_the_bureau_links_a_lead_to_an_institution(
    client: Client, supervisor_city: User, new_lead: Lead, qihang: Institution
) -> None:
    response = _login(client, supervisor_city).post(
        f"/leads/{new_lead.pk}/do/link/", {"institution": qihang.pk}
    )
    assert response.status_code == 302
    new_lead.refresh_from_db()
    assert new_lead.institution == qihang
    html = client.get(f"/leads/{new_lead.pk}/").content.decode()
    assert f"/registry/institutions/{qihang.pk}/" in html


# ---------------------------------------------------------------------------- the lead page


def test_the_reporter_is_shown_masked_to_the_bureau_and_never_to_a_department(
    client: Client, supervisor_city: User, officer_education_xiaonan: User
) -> None:
    lead = services.lead_create(
        actor=supervisor_city,
        source=LeadSource.TIP,
        description="家长电话",
        place_name=PLACE,
        region=Region.objects.get(code=WENCHANG),
        reporter_name=REPORTER_NAME,
        reporter_phone=REPORTER_PHONE,
    )
    services.lead_accept(actor=supervisor_city, lead=lead, violation_types=[_b3()])
    services.lead_dispatch(actor=supervisor_city, lead=lead)
    bureau = _login(client, supervisor_city).get(f"/leads/{lead.pk}/").content.decode()
    assert MASKED_PHONE in bureau and REPORTER_NAME in bureau
    assert REPORTER_PHONE not in bureau
    officer = _login(Client(), officer_education_xiaonan).get(f"/leads/{lead.pk}/")
    assert officer.status_code == 200
    assert REPORTER_NAME not in officer.content.decode()
    assert MASKED_PHONE not in officer.content.decode()


def test_a_school_sentinel_sees_the_status_of_their_lead_not_the_departments_work(
    client: Client, school_tiyulu: User, dispatched: Lead
) -> None:
    html = _login(client, school_tiyulu).get(f"/leads/{dispatched.pk}/").content.decode()
    assert dispatched.get_status_display() in html
    assert EDUCATION not in html
    assert "Timeline" not in html


def test_the_accepted_lead_page_previews_the_dispatch_with_reasons(
    client: Client, supervisor_city: User, new_lead: Lead
) -> None:
    services.lead_accept(actor=supervisor_city, lead=new_lead, violation_types=[_b3()])
    html = _login(client, supervisor_city).get(f"/leads/{new_lead.pk}/").content.decode()
    assert "Confirm and dispatch" in html
    assert EDUCATION in html and MARKET in html
    assert "B3: taxonomy default" in html
    assert not new_lead.work_orders.exists()


def test_an_htmx_action_answers_with_the_lead_panel(
    client: Client, supervisor_city: User, new_lead: Lead
) -> None:
    response = _login(client, supervisor_city).post(
        f"/leads/{new_lead.pk}/do/accept/", {"violation_types": [str(_b3().pk)]}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="lead-panel">')
    assert "Lead accepted." in html
    assert Lead.objects.get(pk=new_lead.pk).status == LeadStatus.ACCEPTED


def test_a_refused_move_is_a_message_not_an_error(
    client: Client, supervisor_city: User, new_lead: Lead
) -> None:
    _login(client, supervisor_city)
    before = _state()
    response = client.post(f"/leads/{new_lead.pk}/do/close/", {"reason": "rectified"}, follow=True)
    assert response.status_code == 200
    assert "A lead is closed once the bureau has accepted every work order." in (
        response.content.decode()
    )
    htmx = client.post(f"/leads/{new_lead.pk}/do/dismiss/", {"reason": ""}, **HTMX)
    assert htmx.status_code == 200
    assert 'class="flash error"' in htmx.content.decode()
    assert _state() == before


def test_a_duplicate_is_merged_by_reference(
    client: Client, supervisor_city: User, new_lead: Lead, school_tiyulu: User
) -> None:
    duplicate = _school_report(school_tiyulu, "同一个住家教师")
    response = _login(client, supervisor_city).post(
        f"/leads/{duplicate.pk}/do/merge/", {"reference": new_lead.reference.lower()}
    )
    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.merged_into_id) == (LeadStatus.MERGED, new_lead.pk)


def test_the_whole_loop_runs_through_the_bureau_pages(
    client: Client,
    supervisor_city: User,
    officer_education_xiaonan: User,
    officer_market_xiaonan: User,
    officer_police: User,
    new_lead: Lead,
) -> None:
    lead = new_lead
    _login(client, supervisor_city)
    post = client.post
    assert post(f"/leads/{lead.pk}/do/accept/", {"violation_types": [_b3().pk]}).status_code == 302
    assert post(f"/leads/{lead.pk}/do/dispatch/").status_code == 302
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DISPATCHED
    education, market = _order(lead, EDUCATION), _order(lead, MARKET)

    services.work_order_return(
        actor=officer_market_xiaonan,
        order=market,
        proposed_department=_department(POLICE),
        reason="住家教师涉及治安管理，应由公安处理",
    )
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "住家教师涉及治安管理" in page
    assert f'<option value="{_department(POLICE).pk}" selected>' in page
    reassign = post(
        f"/leads/{lead.pk}/orders/{market.pk}/reassign/",
        {"department": _department(POLICE).pk, "note": "同意改派"},
    )
    assert reassign.status_code == 302
    police = _order(lead, POLICE)
    assert police.status == OrderStatus.AWAITING

    for officer, order in [(officer_education_xiaonan, education), (officer_police, police)]:
        services.work_order_sign(actor=officer, order=order)
        services.work_order_reply(actor=officer, order=order, reply="已上门核查，责令停止")
        assert post(f"/leads/{lead.pk}/orders/{order.pk}/accept/").status_code == 302
    lead.refresh_from_db()
    assert lead.status == LeadStatus.VERIFIED

    operation = JointOperation.objects.get(leads=lead)
    today = timezone.localdate().isoformat()
    confirm = post(
        f"/leads/joint/{operation.pk}/confirm/",
        {
            "planned_for": today,
            "departments": [_department(EDUCATION).pk, _department(POLICE).pk],
            "team": [officer_education_xiaonan.pk, officer_police.pk],
            "named": f"王五, {EDUCATION}",
        },
    )
    assert confirm.status_code == 302
    operation.refresh_from_db()
    assert operation.status == JointStatus.CONFIRMED
    assert operation.participants.count() == 3
    absent = operation.participants.get(name="王五")
    record = post(
        f"/leads/joint/{operation.pk}/record/",
        {"outcome": "联合检查，责令停止培训", "absent": [absent.pk], "extra": f"赵六, {POLICE}"},
    )
    assert record.status_code == 302
    operation.refresh_from_db()
    assert operation.status == JointStatus.RECORDED
    assert operation.participants.filter(took_part=True).count() == 3

    close = post(f"/leads/{lead.pk}/do/close/", {"reason": "rectified", "note": "已整改"})
    assert close.status_code == 302
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CLOSED
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    for label in ["return requested", "reassigned", "reply accepted", "closed"]:
        assert label in html


def test_a_pending_extension_is_decided_on_the_lead_page(
    client: Client, supervisor_city: User, officer_education_xiaonan: User, dispatched: Lead
) -> None:
    order = _order(dispatched, EDUCATION)
    services.work_order_sign(actor=officer_education_xiaonan, order=order)
    request = services.extension_request(
        actor=officer_education_xiaonan, order=order, days=3, reason="需要调取监控"
    )
    _login(client, supervisor_city)
    assert "需要调取监控" in client.get(f"/leads/{dispatched.pk}/").content.decode()
    refused = client.post(f"/leads/{dispatched.pk}/extensions/{request.pk}/", {"approve": "0"})
    assert refused.status_code == 302  # a refusal needs a note: the service says so
    request.refresh_from_db()
    assert request.status == "pending"
    client.post(f"/leads/{dispatched.pk}/extensions/{request.pk}/", {"approve": "1"})
    request.refresh_from_db()
    assert request.status == "approved"


# ---------------------------------------------------------------------------- joint operations


def test_an_officer_on_the_operation_sees_it_read_only(
    client: Client, officer_education_xiaonan: User, dispatched: Lead
) -> None:
    operation = JointOperation.objects.get(leads=dispatched)
    _login(client, officer_education_xiaonan)
    assert operation.title in client.get("/leads/joint/").content.decode()
    html = client.get(f"/leads/joint/{operation.pk}/").content.decode()
    assert operation.title in html
    assert "Confirm the operation" not in html
    before = _state()
    response = client.post(f"/leads/joint/{operation.pk}/decline/", {"reason": "不需要"})
    assert response.status_code == 404
    assert _state() == before


def test_the_bureau_declines_an_operation_with_a_reason_over_htmx(
    client: Client, supervisor_xiaonan: User, dispatched: Lead
) -> None:
    operation = JointOperation.objects.get(leads=dispatched)
    _login(client, supervisor_xiaonan)
    assert "Confirm the operation" in client.get(f"/leads/joint/{operation.pk}/").content.decode()
    response = client.post(
        f"/leads/joint/{operation.pk}/decline/", {"reason": "单部门可处理"}, **HTMX
    )
    assert response.content.decode().lstrip().startswith('<div id="joint-panel">')
    operation.refresh_from_db()
    assert (operation.status, operation.decline_reason) == (JointStatus.DECLINED, "单部门可处理")


# ---------------------------------------------------------------------------- the timeline


def test_the_timeline_reads_in_three_queries_oldest_first(
    supervisor_city: User, dispatched: Lead, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(3):
        entries = lead_timeline(dispatched, supervisor_city)
    verbs = [e.verb for e in entries]
    assert verbs[:3] == ["lead reported", "accepted and classified", "dispatched"]
    assert verbs.count("work order created") == 2
    assert {e.subject for e in entries} >= {EDUCATION, MARKET}


def test_the_timeline_drops_reporter_details_for_a_department(
    supervisor_city: User, officer_education_xiaonan: User, dispatched: Lead
) -> None:
    event_record(
        actor=supervisor_city,
        verb="lead.linked",
        obj=dispatched,
        after={"status": dispatched.status, "reporter_name": REPORTER_NAME},
    )
    Lead.objects.filter(pk=dispatched.pk).update(reporter_name=REPORTER_NAME)
    officer = lead_timeline(dispatched, officer_education_xiaonan)
    bureau = lead_timeline(dispatched, supervisor_city)
    assert REPORTER_NAME not in " ".join(e.note for e in officer)
    assert any(REPORTER_NAME in e.note for e in bureau)
