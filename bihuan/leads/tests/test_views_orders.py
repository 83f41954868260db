"""The departments' pages: the inbox, an order's page and its actions, and evidence downloads.

The story is built through the services: 体育路学校 reports a home-based one-on-one class, the city
bureau accepts it as B3 and dispatches it to 孝南区教育局 (lead) and 孝南区市场监管局 (assisting).
Out of scope is a 404, never a 403; every refused POST is checked against the database.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from bihuan.accounts.models import Department, User
from bihuan.accounts.scope import scope_of
from bihuan.audit.models import Event
from bihuan.core.errors import ServiceError
from bihuan.demo.data import WENCHANG
from bihuan.leads import services
from bihuan.leads.models import Attachment, ExtensionRequest, Lead, ViolationType, WorkOrder
from bihuan.leads.tests import factories as f
from bihuan.leads.workflow import ExtensionStatus, LeadSource, OrderStatus
from bihuan.territory.models import Region, Sentinel

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
EDUCATION = "孝南区教育局"
MARKET = "孝南区市场监管局"
POLICE = "市公安局"
CITY_MARKET = "市市场监管局"
PLACE = "金色家园小区5栋"
# A real (tiny) image: the evidence module opens photos with Pillow.
PNG = f.PNG
PDF = b"%PDF-1.4\n" + b"%" * 64
REPORTER_NAME = "张三"
REPORTER_PHONE = "13812345678"
MASKED_PHONE = "138****5678"


@pytest.fixture(autouse=True)
def _media_and_language(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # The assertions read the English strings; the Chinese catalogue is filled separately.
    settings.LANGUAGE_CODE = "en"


def _png(name: str = "photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def _department(short_name: str) -> Department:
    return Department.objects.get(short_name=short_name)


def _report(school: User, *, files: list[Any] | None = None) -> Lead:
    sentinel = Sentinel.objects.get(name="体育路学校")
    return services.lead_create(
        actor=school,
        source=LeadSource.SCHOOL,
        sentinel=sentinel,
        description="学生家长反映：有人在家中开展一对一数学培训",
        place_name=PLACE,
        address="体育路88号",
        files=files or [],
    )


def _dispatch(lead: Lead, supervisor: User) -> Lead:
    b3 = ViolationType.objects.get(code="B3")
    services.lead_accept(actor=supervisor, lead=lead, violation_types=[b3])
    return services.lead_dispatch(actor=supervisor, lead=lead)


def _order(lead: Lead, short_name: str) -> WorkOrder:
    return WorkOrder.objects.get(
        lead=lead, department__short_name=short_name, status__in=list(OrderStatus)
    )


@pytest.fixture
def story(school_tiyulu: User, supervisor_city: User) -> Lead:
    """The school's report, accepted as B3 and dispatched, with one photo of the lead."""
    return _dispatch(_report(school_tiyulu, files=[_png("现场.png")]), supervisor_city)


@pytest.fixture
def education(story: Lead) -> WorkOrder:
    return _order(story, EDUCATION)


@pytest.fixture
def market(story: Lead) -> WorkOrder:
    return _order(story, MARKET)


def _login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def _state() -> tuple[Any, ...]:
    return (
        list(WorkOrder.objects.order_by("pk").values()),
        list(Lead.objects.order_by("pk").values()),
        list(ExtensionRequest.objects.order_by("pk").values()),
        Attachment.objects.count(),
        Event.objects.count(),
    )


def _html(response: Any) -> str:
    return str(response.content.decode())


def _tab_count(html: str, label: str) -> int:
    # The label is followed by its count in the tab: "Awaiting signature <span class="count">1".
    start = html.index(label)
    span = html.index('class="count">', start) + len('class="count">')
    return int(html[span : html.index("<", span)])


def _signed(order: WorkOrder, officer: User) -> WorkOrder:
    return services.work_order_sign(actor=officer, order=order)


# ---------------------------------------------------------------------------- the inbox


def test_lead_department_inbox_counts_its_order_awaiting_signature(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    html = _html(_login(client, officer_education_xiaonan).get("/leads/orders/"))
    assert _tab_count(html, "Awaiting signature") == 1
    assert _tab_count(html, "In hand") == 0
    assert _tab_count(html, "All") == 1
    assert education.lead.reference in html
    assert PLACE in html
    assert "B3" in html
    assert "lead (主办)" in html


def test_assisting_department_inbox_shows_its_own_role(
    client: Client, officer_market_xiaonan: User, market: WorkOrder
) -> None:
    html = _html(_login(client, officer_market_xiaonan).get("/leads/orders/?tab=all"))
    assert _tab_count(html, "All") == 1
    assert "assisting (协办)" in html
    assert "lead (主办)" not in html
    assert f"/leads/orders/{market.pk}/" in html


def test_signed_order_moves_to_the_in_hand_tab(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    html = _html(_login(client, officer_education_xiaonan).get("/leads/orders/?tab=signed"))
    assert _tab_count(html, "Awaiting signature") == 0
    assert _tab_count(html, "In hand") == 1
    assert f"/leads/orders/{education.pk}/" in html


def test_replied_order_is_listed_under_replied(
    client: Client, officer_market_xiaonan: User, market: WorkOrder
) -> None:
    _signed(market, officer_market_xiaonan)
    services.work_order_reply(actor=officer_market_xiaonan, order=market, reply="已约谈")
    html = _html(_login(client, officer_market_xiaonan).get("/leads/orders/?tab=replied"))
    assert _tab_count(html, "Replied") == 1
    assert f"/leads/orders/{market.pk}/" in html


def test_overdue_tab_lists_an_order_past_its_signing_deadline_in_red(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    past = education.created_at.replace(year=education.created_at.year - 1)
    WorkOrder.objects.filter(pk=education.pk).update(sign_due=past)
    html = _html(_login(client, officer_education_xiaonan).get("/leads/orders/?tab=overdue"))
    assert _tab_count(html, "Overdue") == 1
    assert 'class="error"' in html and "overdue" in html


def test_returned_order_is_listed_under_return_requested(
    client: Client, officer_market_xiaonan: User, market: WorkOrder
) -> None:
    services.work_order_return(
        actor=officer_market_xiaonan,
        order=market,
        proposed_department=_department(POLICE),
        reason="涉及治安",
    )
    html = _html(_login(client, officer_market_xiaonan).get("/leads/orders/?tab=returned"))
    assert _tab_count(html, "Return requested") == 1
    assert f"/leads/orders/{market.pk}/" in html


def test_urged_and_supervised_orders_are_flagged(
    client: Client, officer_education_xiaonan: User, supervisor_city: User, education: WorkOrder
) -> None:
    services.work_order_urge(actor=supervisor_city, order=education, note="请尽快签收")
    services.work_order_supervise(actor=supervisor_city, order=education, note="挂牌督办")
    html = _html(_login(client, officer_education_xiaonan).get("/leads/orders/?flag=supervised"))
    assert "urged once" in html
    assert "under supervision" in html
    assert _tab_count(html, "All") == 1


def test_inbox_filter_by_text_keeps_only_matching_orders(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _login(client, officer_education_xiaonan)
    assert _tab_count(_html(client.get("/leads/orders/?q=金色家园")), "All") == 1
    assert _tab_count(_html(client.get("/leads/orders/?q=不存在的地方")), "All") == 0


def test_supervisor_inbox_lists_every_department_of_the_lead(
    client: Client, supervisor_city: User, education: WorkOrder, market: WorkOrder
) -> None:
    html = _html(_login(client, supervisor_city).get("/leads/orders/"))
    assert _tab_count(html, "Awaiting signature") == 2
    assert EDUCATION in html and MARKET in html


def test_inbox_htmx_request_gets_the_results_only(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    response = _login(client, officer_education_xiaonan).get("/leads/orders/", **HTMX)
    html = _html(response)
    assert html.lstrip().startswith('<div id="results">')
    assert education.lead.reference in html


def test_inbox_exports_the_tab_as_xlsx(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    response = _login(client, officer_education_xiaonan).get("/leads/orders/?tab=all&format=xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert len(rows) == 2
    assert rows[1][0] == education.lead.reference
    assert rows[1][1] == PLACE
    assert rows[1][2] == "B3"
    assert rows[1][3] == EDUCATION


def _more_leads(count: int, school: User, supervisor: User) -> None:
    for _n in range(count):
        _dispatch(_report(school), supervisor)


def _inbox_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/leads/orders/?tab=all")
    assert response.status_code == 200
    return len(captured)


def test_inbox_query_count_does_not_grow_with_rows(
    client: Client,
    officer_education_xiaonan: User,
    school_tiyulu: User,
    supervisor_city: User,
    education: WorkOrder,
    django_assert_max_num_queries: Any,
) -> None:
    _login(client, officer_education_xiaonan)
    with_one = _inbox_queries(client)
    _more_leads(29, school_tiyulu, supervisor_city)
    assert WorkOrder.objects.filter(department__short_name=EDUCATION).count() == 30
    with django_assert_max_num_queries(with_one):
        response = client.get("/leads/orders/?tab=all")
    assert _tab_count(_html(response), "All") == 30


# ---------------------------------------------------------------------------- who sees what


@pytest.mark.parametrize("persona", ["officer_market", "officer_police"])
def test_city_departments_do_not_see_xiaonan_orders(
    client: Client,
    request: pytest.FixtureRequest,
    education: WorkOrder,
    market: WorkOrder,
    persona: str,
) -> None:
    _login(client, request.getfixturevalue(persona))
    html = _html(client.get("/leads/orders/?tab=all"))
    assert _tab_count(html, "All") == 0
    assert client.get(f"/leads/orders/{education.pk}/").status_code == 404
    assert client.get(f"/leads/orders/{market.pk}/").status_code == 404


def test_police_sees_the_order_once_the_bureau_reassigns_it_to_them(
    client: Client,
    officer_market_xiaonan: User,
    officer_police: User,
    officer_market: User,
    supervisor_city: User,
    market: WorkOrder,
) -> None:
    services.work_order_return(
        actor=officer_market_xiaonan,
        order=market,
        proposed_department=_department(POLICE),
        reason="住家教师涉嫌非法经营，建议公安介入",
    )
    successor = services.work_order_reassign(
        actor=supervisor_city, order=market, department=_department(POLICE)
    )
    _login(client, officer_police)
    assert _tab_count(_html(client.get("/leads/orders/")), "Awaiting signature") == 1
    assert client.get(f"/leads/orders/{successor.pk}/").status_code == 200
    assert client.get(f"/leads/orders/{market.pk}/").status_code == 404
    _login(client, officer_market)
    assert client.get(f"/leads/orders/{successor.pk}/").status_code == 404


def test_assisting_department_cannot_open_the_lead_department_order(
    client: Client, officer_market_xiaonan: User, education: WorkOrder
) -> None:
    response = _login(client, officer_market_xiaonan).get(f"/leads/orders/{education.pk}/")
    assert response.status_code == 404


def test_order_page_lists_the_other_departments_by_name_and_role(
    client: Client, officer_market_xiaonan: User, market: WorkOrder
) -> None:
    html = _html(_login(client, officer_market_xiaonan).get(f"/leads/orders/{market.pk}/"))
    assert "孝南区教育局 · lead (主办)" in html
    assert "B3" in html
    assert market.reason in html


# The read and write matrix over personas: who may open the inbox, the education order, and act.

READS = {
    "admin_system": (404, 404),
    "admin_audit": (404, 404),
    "coordinator_wenchang": (404, 404),
    "inspector_wenchang": (404, 404),
    "school_tiyulu": (404, 404),
    "area_guangchang": (404, 404),
    "officer_market": (200, 404),
    "officer_police": (200, 404),
    "officer_market_xiaonan": (200, 404),
    "supervisor_city": (200, 200),
    "supervisor_xiaonan": (200, 200),
    "officer_education_xiaonan": (200, 200),
}


def _posts(police: Department) -> dict[str, dict[str, Any]]:
    return {
        "sign": {},
        "reply": {"reply-reply": "已处理"},
        "return": {"return-proposed_department": police.pk, "return-reason": "不归我们管"},
        "extension": {"extension-days": 3, "extension-reason": "需要时间"},
    }


@pytest.mark.parametrize("persona", sorted(READS))
def test_pages_open_only_in_scope(
    client: Client, request: pytest.FixtureRequest, education: WorkOrder, persona: str
) -> None:
    inbox, order = READS[persona]
    _login(client, request.getfixturevalue(persona))
    assert client.get("/leads/orders/").status_code == inbox
    assert client.get(f"/leads/orders/{education.pk}/").status_code == order


@pytest.mark.parametrize("persona", sorted(set(READS) - {"officer_education_xiaonan"}))
def test_only_the_department_may_act_and_refused_posts_change_nothing(
    client: Client, request: pytest.FixtureRequest, education: WorkOrder, persona: str
) -> None:
    _login(client, request.getfixturevalue(persona))
    before = _state()
    for action, data in _posts(_department(POLICE)).items():
        url = f"/leads/orders/{education.pk}/{action}/"
        assert client.post(url, data).status_code == 404, action
        assert client.post(url, data, **HTMX).status_code == 404, action
    assert _state() == before


def test_anonymous_visitors_are_sent_to_sign_in_and_change_nothing(
    client: Client, education: WorkOrder
) -> None:
    before = _state()
    assert client.get("/leads/orders/").status_code == 302
    assert client.get(f"/leads/orders/{education.pk}/").status_code == 302
    for action, data in _posts(_department(POLICE)).items():
        assert client.post(f"/leads/orders/{education.pk}/{action}/", data).status_code == 302
    assert _state() == before


def test_unknown_action_is_not_found(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    before = _state()
    url = f"/leads/orders/{education.pk}/accept/"
    assert _login(client, officer_education_xiaonan).post(url).status_code == 404
    assert _state() == before


# ---------------------------------------------------------------------------- the actions


def test_awaiting_order_offers_signing_and_return_only(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    html = _html(_login(client, officer_education_xiaonan).get(f"/leads/orders/{education.pk}/"))
    assert f"/leads/orders/{education.pk}/sign/" in html
    assert f"/leads/orders/{education.pk}/return/" in html
    assert f"/leads/orders/{education.pk}/reply/" not in html
    assert f"/leads/orders/{education.pk}/extension/" not in html


def test_signed_order_offers_reply_return_and_extension(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    html = _html(_login(client, officer_education_xiaonan).get(f"/leads/orders/{education.pk}/"))
    assert f"/leads/orders/{education.pk}/sign/" not in html
    assert f"/leads/orders/{education.pk}/reply/" in html
    assert f"/leads/orders/{education.pk}/return/" in html
    assert f"/leads/orders/{education.pk}/extension/" in html


def test_replied_order_offers_no_action(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    services.work_order_reply(actor=officer_education_xiaonan, order=education, reply="已取缔")
    html = _html(_login(client, officer_education_xiaonan).get(f"/leads/orders/{education.pk}/"))
    for action in ("sign", "reply", "return", "extension"):
        assert f"/leads/orders/{education.pk}/{action}/" not in html


def test_supervisor_sees_the_order_without_department_actions(
    client: Client, supervisor_city: User, education: WorkOrder
) -> None:
    html = _html(_login(client, supervisor_city).get(f"/leads/orders/{education.pk}/"))
    assert education.lead.reference in html
    for action in ("sign", "reply", "return", "extension"):
        assert f"/leads/orders/{education.pk}/{action}/" not in html


def test_signing_by_plain_post_redirects_with_a_message(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _login(client, officer_education_xiaonan)
    response = client.post(f"/leads/orders/{education.pk}/sign/")
    assert response.status_code == 302
    assert response["Location"] == f"/leads/orders/{education.pk}/"
    education.refresh_from_db()
    assert education.status == OrderStatus.SIGNED
    assert education.signed_by == officer_education_xiaonan
    assert "Signed for" in _html(client.get(response["Location"]))


def test_signing_by_htmx_returns_the_panel(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    url = f"/leads/orders/{education.pk}/sign/"
    response = _login(client, officer_education_xiaonan).post(url, **HTMX)
    assert response.status_code == 200
    html = _html(response)
    assert html.lstrip().startswith('<div id="order-panel">')
    assert "Signed for" in html
    education.refresh_from_db()
    assert education.status == OrderStatus.SIGNED


def test_action_the_status_does_not_allow_is_refused_and_changes_nothing(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _login(client, officer_education_xiaonan)
    before = _state()
    response = client.post(f"/leads/orders/{education.pk}/reply/", {"reply-reply": "提前反馈"})
    assert response.status_code == 302
    assert "This cannot be done to a work order" in _html(client.get(response["Location"]))
    assert _state() == before


def test_signing_again_a_replied_order_through_the_page_changes_nothing(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    services.work_order_reply(actor=officer_education_xiaonan, order=education, reply="已取缔")
    before = _state()
    url = f"/leads/orders/{education.pk}/sign/"
    response = _login(client, officer_education_xiaonan).post(url, **HTMX)
    assert response.status_code == 200
    assert _state() == before


def test_signing_service_refuses_an_order_that_left_awaiting(
    officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    services.work_order_reply(actor=officer_education_xiaonan, order=education, reply="已取缔")
    with pytest.raises(ServiceError):
        services.work_order_sign(actor=officer_education_xiaonan, order=education)


def test_reply_with_several_files_is_sent_with_its_evidence(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    files = [_png("取缔现场.png"), SimpleUploadedFile("告知书.pdf", PDF, "application/pdf")]
    response = _login(client, officer_education_xiaonan).post(
        f"/leads/orders/{education.pk}/reply/",
        {"reply-reply": "已责令停止培训", "reply-files": files},
        **HTMX,
    )
    assert response.status_code == 200
    education.refresh_from_db()
    assert education.status == OrderStatus.REPLIED
    assert education.reply == "已责令停止培训"
    names = sorted(education.attachments.values_list("original_name", flat=True))
    assert names == ["取缔现场.png", "告知书.pdf"]
    html = _html(response)
    assert "取缔现场.png" in html and "/media/" not in html


def test_reply_with_a_file_that_is_not_evidence_is_refused_and_changes_nothing(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    before = _state()
    fake = SimpleUploadedFile("photo.png", b"MZ not a picture", "image/png")
    response = _login(client, officer_education_xiaonan).post(
        f"/leads/orders/{education.pk}/reply/",
        {"reply-reply": "已处理", "reply-files": [fake]},
        **HTMX,
    )
    assert response.status_code == 200
    assert "is not a JPEG, PNG or WebP photo or a PDF file" in _html(response)
    assert _state() == before


def test_reply_without_text_is_refused_and_changes_nothing(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    before = _state()
    _login(client, officer_education_xiaonan)
    response = client.post(f"/leads/orders/{education.pk}/reply/", {"reply-reply": "  "})
    assert response.status_code == 302
    assert _state() == before


def test_return_names_the_department_and_waits_for_the_bureau(
    client: Client, officer_market_xiaonan: User, market: WorkOrder
) -> None:
    police = _department(POLICE)
    _login(client, officer_market_xiaonan)
    response = client.post(
        f"/leads/orders/{market.pk}/return/",
        {"return-proposed_department": police.pk, "return-reason": "涉嫌治安问题"},
    )
    assert response.status_code == 302
    market.refresh_from_db()
    assert market.status == OrderStatus.RETURN_REQUESTED
    assert market.proposed_department == police
    assert market.return_reason == "涉嫌治安问题"
    assert "Return requested" in _html(client.get(response["Location"]))


def test_return_without_a_department_is_refused_with_a_message_and_changes_nothing(
    client: Client, officer_market_xiaonan: User, market: WorkOrder
) -> None:
    before = _state()
    _login(client, officer_market_xiaonan)
    url = f"/leads/orders/{market.pk}/return/"
    response = client.post(url, {"return-reason": "不归我们管"}, follow=True)
    assert "Name the department you believe is responsible." in _html(response)
    response = client.post(url, {"return-reason": "不归我们管"}, **HTMX)
    assert "Name the department you believe is responsible." in _html(response)
    assert _state() == before


def test_return_may_not_name_the_own_department(
    client: Client, officer_market_xiaonan: User, market: WorkOrder
) -> None:
    before = _state()
    response = _login(client, officer_market_xiaonan).post(
        f"/leads/orders/{market.pk}/return/",
        {"return-proposed_department": market.department_id, "return-reason": "x"},
        **HTMX,
    )
    assert response.status_code == 200
    assert 'class="error"' in _html(response)
    assert _state() == before


def test_return_offers_the_departments_covering_the_place_but_not_the_own(
    client: Client, officer_market_xiaonan: User, market: WorkOrder
) -> None:
    html = _html(_login(client, officer_market_xiaonan).get(f"/leads/orders/{market.pk}/"))
    form = html[html.index(f"/leads/orders/{market.pk}/return/") :]
    select = form[: form.index("</select>")]
    assert f'value="{_department(POLICE).pk}"' in select
    assert f'value="{_department(EDUCATION).pk}"' in select
    assert f'value="{_department(CITY_MARKET).pk}"' in select
    assert f'value="{market.department_id}"' not in select


def test_extension_request_by_htmx_is_recorded_and_shown(
    client: Client, officer_education_xiaonan: User, education: WorkOrder
) -> None:
    _signed(education, officer_education_xiaonan)
    response = _login(client, officer_education_xiaonan).post(
        f"/leads/orders/{education.pk}/extension/",
        {"extension-days": 5, "extension-reason": "需联合公安取证"},
        **HTMX,
    )
    assert response.status_code == 200
    (extension,) = ExtensionRequest.objects.filter(work_order=education)
    assert extension.days == 5
    assert extension.status == ExtensionStatus.PENDING
    html = _html(response)
    assert "需联合公安取证" in html
    # One request waits at a time: the form is gone until the bureau decides.
    assert f"/leads/orders/{education.pk}/extension/" not in html


@pytest.mark.parametrize("days", [0, 31, "abc"])
def test_extension_outside_one_to_thirty_days_is_refused_and_changes_nothing(
    client: Client, officer_education_xiaonan: User, education: WorkOrder, days: Any
) -> None:
    _signed(education, officer_education_xiaonan)
    before = _state()
    _login(client, officer_education_xiaonan)
    response = client.post(
        f"/leads/orders/{education.pk}/extension/",
        {"extension-days": days, "extension-reason": "需要时间"},
    )
    assert response.status_code == 302
    assert _state() == before


def test_order_page_shows_reminders_extension_decisions_and_redo_reason(
    client: Client,
    officer_education_xiaonan: User,
    supervisor_city: User,
    education: WorkOrder,
) -> None:
    services.work_order_urge(actor=supervisor_city, order=education, note="请今日签收")
    _signed(education, officer_education_xiaonan)
    request = services.extension_request(
        actor=officer_education_xiaonan, order=education, days=3, reason="取证中"
    )
    services.extension_decide(
        actor=supervisor_city, request=request, approve=False, note="不予延期"
    )
    services.work_order_reply(actor=officer_education_xiaonan, order=education, reply="已处理")
    services.work_order_redo(actor=supervisor_city, order=education, reason="缺少现场照片")
    html = _html(_login(client, officer_education_xiaonan).get(f"/leads/orders/{education.pk}/"))
    for text in ("请今日签收", "取证中", "不予延期", "缺少现场照片"):
        assert text in html


# ---------------------------------------------------------------------------- who reported


def _tip_lead(supervisor: User) -> Lead:
    lead = services.lead_create(
        actor=None,
        source=LeadSource.TIP,
        region=Region.objects.get(code=WENCHANG),
        description="小区里有人周末开一对一补习班",
        place_name=PLACE,
        reporter_name=REPORTER_NAME,
        reporter_phone=REPORTER_PHONE,
    )
    return _dispatch(lead, supervisor)


@pytest.mark.parametrize("persona", ["officer_education_xiaonan", "officer_market_xiaonan"])
def test_department_pages_never_show_the_tip_reporter(
    client: Client, request: pytest.FixtureRequest, supervisor_city: User, persona: str
) -> None:
    lead = _tip_lead(supervisor_city)
    officer = request.getfixturevalue(persona)
    (order,) = WorkOrder.objects.filter(lead=lead, department__in=_departments_of(officer))
    _login(client, officer)
    pages = [
        _html(client.get("/leads/orders/?tab=all")),
        _html(client.get(f"/leads/orders/{order.pk}/")),
    ]
    for html in pages:
        assert lead.reference in html
        for secret in (REPORTER_NAME, REPORTER_PHONE, MASKED_PHONE):
            assert secret not in html


def _departments_of(user: User) -> list[int]:
    return sorted(scope_of(user).department_ids)


def test_order_page_never_shows_the_school_sentinel_or_its_people(
    client: Client, officer_education_xiaonan: User, school_tiyulu: User, education: WorkOrder
) -> None:
    html = _html(_login(client, officer_education_xiaonan).get(f"/leads/orders/{education.pk}/"))
    assert education.lead.description in html
    for secret in (str(school_tiyulu), school_tiyulu.phone, "体育路学校"):
        assert secret and secret not in html


# ---------------------------------------------------------------------------- evidence files


@pytest.fixture
def reply_file(officer_market_xiaonan: User, market: WorkOrder) -> Attachment:
    _signed(market, officer_market_xiaonan)
    services.work_order_reply(
        actor=officer_market_xiaonan, order=market, reply="已约谈", files=[_png("约谈.png")]
    )
    return Attachment.objects.get(work_order=market)


@pytest.fixture
def lead_file(story: Lead) -> Attachment:
    return Attachment.objects.get(lead=story, work_order__isnull=True)


def _download(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_lead_evidence_downloads_as_an_attachment_with_its_name(
    client: Client, officer_education_xiaonan: User, lead_file: Attachment
) -> None:
    response = _login(client, officer_education_xiaonan).get(f"/leads/attachments/{lead_file.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "%E7%8E%B0%E5%9C%BA.png" in response["Content-Disposition"]  # 现场.png
    assert response["X-Content-Type-Options"] == "nosniff"
    assert _download(response) == PNG


def test_order_page_links_evidence_through_the_view_not_the_media_path(
    client: Client, officer_education_xiaonan: User, lead_file: Attachment
) -> None:
    order = _order(lead_file.lead, EDUCATION)
    html = _html(_login(client, officer_education_xiaonan).get(f"/leads/orders/{order.pk}/"))
    assert f"/leads/attachments/{lead_file.pk}/" in html
    assert "/media/" not in html
    assert lead_file.file.name not in html


@pytest.mark.parametrize(
    ("persona", "lead_status", "reply_status"),
    [
        ("officer_education_xiaonan", 200, 404),
        ("officer_market_xiaonan", 200, 200),
        ("supervisor_city", 200, 200),
        ("supervisor_xiaonan", 200, 200),
        ("officer_market", 404, 404),
        ("officer_police", 404, 404),
        ("admin_system", 404, 404),
        ("inspector_wenchang", 404, 404),
        ("school_tiyulu", 200, 404),
    ],
)
def test_evidence_downloads_only_for_those_who_may_read_it(
    client: Client,
    request: pytest.FixtureRequest,
    lead_file: Attachment,
    reply_file: Attachment,
    persona: str,
    lead_status: int,
    reply_status: int,
) -> None:
    _login(client, request.getfixturevalue(persona))
    assert client.get(f"/leads/attachments/{lead_file.pk}/").status_code == lead_status
    assert client.get(f"/leads/attachments/{reply_file.pk}/").status_code == reply_status


def test_anonymous_visitor_cannot_download_evidence(client: Client, lead_file: Attachment) -> None:
    assert client.get(f"/leads/attachments/{lead_file.pk}/").status_code == 302


# ---------------------------------------------------------------------------- navigation


def test_officers_find_the_inbox_in_the_menu(
    client: Client, officer_education_xiaonan: User, demo_city: dict[str, int]
) -> None:
    html = _html(_login(client, officer_education_xiaonan).get("/"))
    assert 'href="/leads/orders/"' in html
