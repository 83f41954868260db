"""The bureau's remaining moves through the API: triage, order decisions and joint operations.

Each goes through the same service as the page, behind If-Match; a refusal is 400 with the
service's message, a record outside the caller's places is 404, and neither changes anything.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bihuan.accounts.models import Department, DepartmentKind, User
from bihuan.api.tests.conftest import token_client
from bihuan.leads import services
from bihuan.leads.models import JointOperation, Lead, WorkOrder
from bihuan.leads.tests import factories as f
from bihuan.leads.workflow import JointStatus
from bihuan.territory.models import Region

pytestmark = pytest.mark.usefixtures("city")


def _user(username: str) -> User:
    return User.objects.get(username=username)


def _post(client: APIClient, url: str, body: dict[str, Any] | None = None) -> Any:
    """GET for the ETag, then POST the action with If-Match."""
    detail = url.rsplit("/", 2)[0] + "/"
    read = client.get(detail)
    assert read.status_code == 200, read.content
    return client.post(url, body or {}, HTTP_IF_MATCH=read["ETag"], format="json")


@pytest.fixture
def supervisor(db: None) -> APIClient:
    return token_client(_user("supervisor"))


# ---------------------------------------------------------------------------- triage


def test_classify_changes_the_types_of_an_accepted_lead(supervisor: APIClient) -> None:
    lead = f.lead_accepted(_user("supervisor"))
    response = _post(supervisor, f"/api/v1/leads/{lead.pk}/classify/", {"violation_types": ["B1"]})
    assert response.status_code == 200, response.content
    assert list(lead.violation_types.values_list("code", flat=True)) == ["B1"]


def test_an_unknown_type_code_is_refused_with_the_code_named(supervisor: APIClient) -> None:
    lead = f.lead_tip()
    response = _post(supervisor, f"/api/v1/leads/{lead.pk}/accept/", {"violation_types": ["ZZ9"]})
    assert response.status_code == 400
    assert "ZZ9" in response.json()["detail"] and response.json()["field"] == "violation_types"
    lead.refresh_from_db()
    assert lead.status == "new"


def test_link_ties_the_lead_to_a_current_institution_only(supervisor: APIClient) -> None:
    lead = f.lead_tip()
    institution = f.institution_make()
    response = _post(supervisor, f"/api/v1/leads/{lead.pk}/link/", {"institution": institution.pk})
    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert lead.institution_id == institution.pk
    unknown = institution.pk + 10_000
    refused = _post(supervisor, f"/api/v1/leads/{lead.pk}/link/", {"institution": unknown})
    assert refused.status_code == 400 and refused.json()["field"] == "institution"
    lead.refresh_from_db()
    assert lead.institution_id == institution.pk


def test_merge_folds_a_duplicate_into_the_lead_named_by_reference(supervisor: APIClient) -> None:
    keeper = f.lead_tip()
    duplicate = f.lead_tip()
    response = _post(
        supervisor, f"/api/v1/leads/{duplicate.pk}/merge/", {"reference": keeper.reference}
    )
    assert response.status_code == 200, response.content
    duplicate.refresh_from_db()
    assert duplicate.status == "merged" and duplicate.merged_into_id == keeper.pk
    missing = _post(supervisor, f"/api/v1/leads/{keeper.pk}/merge/", {"reference": "NOPE-1"})
    assert missing.status_code == 400 and missing.json()["field"] == "reference"


def test_dismiss_needs_a_reason_and_reopen_brings_the_lead_back(supervisor: APIClient) -> None:
    lead = f.lead_tip()
    blank = _post(supervisor, f"/api/v1/leads/{lead.pk}/dismiss/", {"reason": ""})
    assert blank.status_code == 400
    dismissed = _post(supervisor, f"/api/v1/leads/{lead.pk}/dismiss/", {"reason": "非校外培训"})
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    reopened = _post(supervisor, f"/api/v1/leads/{lead.pk}/reopen/", {"reason": "家长补充证据"})
    assert reopened.status_code == 200, reopened.content
    assert reopened.json()["status"] != "dismissed"


# ---------------------------------------------------------------------------- orders


def _replied_order() -> WorkOrder:
    lead = f.lead_dispatched(_user("supervisor"))
    _first, second = f.orders_replied(lead, _user("xnjiaoyu"), _user("xnmarket"))
    return second


def test_redo_sends_a_reply_back_with_a_reason(supervisor: APIClient) -> None:
    order = _replied_order()
    response = _post(supervisor, f"/api/v1/work-orders/{order.pk}/redo/", {"reason": "证据不足"})
    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.status == "signed" and order.redo_count == 1


def test_supervise_needs_a_note(supervisor: APIClient) -> None:
    order = f.order_of(f.lead_dispatched(_user("supervisor")), f.MARKET_XIAONAN)
    assert _post(supervisor, f"/api/v1/work-orders/{order.pk}/supervise/", {}).status_code == 400
    done = _post(supervisor, f"/api/v1/work-orders/{order.pk}/supervise/", {"note": "限期办理"})
    assert done.status_code == 200, done.content
    order.refresh_from_db()
    assert order.is_supervised


def _elsewhere() -> Department:
    """A market regulator of 孝昌县, which does not cover 孝南区."""
    return Department.objects.create(
        kind=DepartmentKind.MARKET,
        name="孝昌县市场监督管理局",
        short_name="孝昌县市场监管局",
        jurisdiction=Region.objects.get(code="420921"),
    )


def _returned_order() -> WorkOrder:
    lead = f.lead_dispatched(_user("supervisor"))
    order = f.order_of(lead, f.MARKET_XIAONAN)
    return services.work_order_return(
        actor=_user("xnmarket"),
        order=order,
        proposed_department=f.department(f.POLICE_CITY),
        reason="非家政公司",
    )


def test_reassign_moves_a_returned_order_to_a_covering_department(supervisor: APIClient) -> None:
    order = _returned_order()
    police = f.department(f.POLICE_CITY)
    response = _post(
        supervisor, f"/api/v1/work-orders/{order.pk}/reassign/", {"department": police.pk}
    )
    assert response.status_code == 200, response.content
    assert WorkOrder.objects.filter(lead=order.lead, department=police).exists()


def test_reassign_to_a_department_that_does_not_cover_the_place_is_refused(
    supervisor: APIClient,
) -> None:
    order = _returned_order()
    elsewhere = _elsewhere()
    response = _post(
        supervisor, f"/api/v1/work-orders/{order.pk}/reassign/", {"department": elsewhere.pk}
    )
    assert response.status_code == 400 and response.json()["field"] == "department"
    order.refresh_from_db()
    assert order.status == "return_requested"


def test_refuse_return_sends_the_order_back_to_the_department(supervisor: APIClient) -> None:
    order = _returned_order()
    response = _post(
        supervisor, f"/api/v1/work-orders/{order.pk}/refuse-return/", {"note": "属于本部门职责"}
    )
    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.status != "return_requested"


def test_extension_decision_approves_the_pending_request(supervisor: APIClient) -> None:
    lead = f.lead_dispatched(_user("supervisor"))
    order = services.work_order_sign(
        actor=_user("xnmarket"), order=f.order_of(lead, f.MARKET_XIAONAN)
    )
    none_yet = _post(
        supervisor, f"/api/v1/work-orders/{order.pk}/extension-decision/", {"approve": True}
    )
    assert none_yet.status_code == 400
    services.extension_request(actor=_user("xnmarket"), order=order, days=3, reason="需联合检查")
    before = WorkOrder.objects.get(pk=order.pk).reply_due
    assert before is not None
    response = _post(
        supervisor, f"/api/v1/work-orders/{order.pk}/extension-decision/", {"approve": True}
    )
    assert response.status_code == 200, response.content
    after = WorkOrder.objects.get(pk=order.pk).reply_due
    assert after is not None and after > before


def test_an_officer_cannot_use_the_bureaus_order_moves(db: None) -> None:
    order = _replied_order()
    officer = token_client(_user("xnmarket"))
    response = _post(officer, f"/api/v1/work-orders/{order.pk}/redo/", {"reason": "x"})
    assert response.status_code == 404
    order.refresh_from_db()
    assert order.status == "replied"


# ---------------------------------------------------------------------------- joint operations


def _proposed() -> JointOperation:
    lead = f.lead_dispatched(_user("supervisor"))
    return JointOperation.objects.get(leads=lead, status=JointStatus.PROPOSED)


def test_joint_operation_is_confirmed_then_recorded(supervisor: APIClient) -> None:
    operation = _proposed()
    education = f.department(f.EDUCATION_XIAONAN)
    market = f.department(f.MARKET_XIAONAN)
    body = {
        "planned_for": timezone.localdate().isoformat(),
        "departments": [education.pk, market.pk],
        "team": [_user("xnjiaoyu").pk],
        "named": [{"name": "王明", "department": market.pk}, {"name": "李强"}],
    }
    confirmed = _post(supervisor, f"/api/v1/joint-operations/{operation.pk}/confirm/", body)
    assert confirmed.status_code == 200, confirmed.content
    participants = {p["name"]: p["id"] for p in confirmed.json()["participants"]}
    assert set(participants) >= {"王明", "李强"}
    recorded = _post(
        supervisor,
        f"/api/v1/joint-operations/{operation.pk}/record/",
        {"outcome": "联合检查，已取缔", "absent": [participants["李强"]]},
    )
    assert recorded.status_code == 200, recorded.content
    operation.refresh_from_db()
    assert operation.status == JointStatus.RECORDED
    assert not operation.participants.get(name="李强").took_part


def test_joint_confirm_refuses_people_and_departments_not_on_offer(supervisor: APIClient) -> None:
    operation = _proposed()
    education = f.department(f.EDUCATION_XIAONAN)
    elsewhere = _elsewhere()
    body = {
        "planned_for": timezone.localdate().isoformat(),
        "departments": [education.pk, elsewhere.pk],
        "named": [{"name": "王明"}],
    }
    response = _post(supervisor, f"/api/v1/joint-operations/{operation.pk}/confirm/", body)
    assert response.status_code == 400 and response.json()["field"] == "departments"
    outsider = {**body, "departments": [education.pk], "team": [_user("gongan").pk + 10_000]}
    response = _post(supervisor, f"/api/v1/joint-operations/{operation.pk}/confirm/", outsider)
    assert response.status_code == 400 and response.json()["field"] == "team"
    operation.refresh_from_db()
    assert operation.status == JointStatus.PROPOSED and not operation.participants.exists()


@pytest.mark.parametrize("username", ["xnjiaoyu", "wenchang"])
def test_only_the_bureau_of_the_place_decides_a_joint_operation(username: str) -> None:
    operation = _proposed()
    client = token_client(_user(username))
    response = client.post(
        f"/api/v1/joint-operations/{operation.pk}/decline/",
        {"reason": "单一部门可处理"},
        HTTP_IF_MATCH="*",
        format="json",
    )
    assert response.status_code == 404
    operation.refresh_from_db()
    assert operation.status == JointStatus.PROPOSED


def test_decline_keeps_the_reason(supervisor: APIClient) -> None:
    operation = _proposed()
    url = f"/api/v1/joint-operations/{operation.pk}/decline/"
    response = _post(supervisor, url, {"reason": "单一部门可处理"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == JointStatus.DECLINED


def test_every_action_is_in_the_schema(client: Any) -> None:
    client.force_login(_user("supervisor"))
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    lead = ["accept", "classify", "link", "merge", "dismiss", "dispatch", "close", "reopen"]
    order = ["sign", "reply", "return", "extension", "accept", "urge", "redo", "supervise"]
    order += ["reassign", "refuse-return", "extension-decision"]
    joint = ["confirm", "decline", "record"]
    for resource, actions in (("leads", lead), ("work-orders", order), ("joint-operations", joint)):
        for name in actions:
            assert f"/api/v1/{resource}/{{id}}/{name}/" in paths, (resource, name)
    assert Lead.objects.exists()
