"""The taxonomy pages: the system administrator's only (404 for everyone else, a login redirect
for strangers), what they show, what their forms write, and what refused posts leave alone."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape
from django.utils.translation import gettext
from openpyxl import load_workbook

from bihuan.accounts.models import Department, DepartmentKind, User
from bihuan.audit.models import Event
from bihuan.leads import taxonomy_services as services
from bihuan.leads.models import RoutingRule, ViolationGroup, ViolationType

PERSONAS = [
    "admin_system",
    "admin_security",
    "admin_audit",
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "coordinator_huaiyin",
    "inspector_wenchang",
    "officer_market",
    "school_tiyulu",
    "area_guangchang",
]
DUPLICATE_RULE = gettext(
    "An active rule for this type, licence category and region exists already; deactivate it first."
)
OTHERS = [p for p in PERSONAS if p != "admin_system"]


@pytest.fixture
def a_rule(demo_city: dict[str, int]) -> RoutingRule:
    return services.routing_rule_create(
        actor=None,
        violation_type=ViolationType.objects.get(code="F4"),
        category="subject",
        lead_kind="fire_rescue",
        note="供餐由消防牵头",
    )


@pytest.fixture
def admin(client: Client, admin_system: User) -> Client:
    client.force_login(admin_system)
    return client


def _state() -> tuple[Any, ...]:
    return (
        list(ViolationGroup.objects.order_by("pk").values()),
        list(ViolationType.objects.order_by("pk").values()),
        list(RoutingRule.objects.order_by("pk").values()),
        Event.objects.count(),
    )


PAGES = [
    "/taxonomy/",
    "/taxonomy/?format=xlsx",
    "/taxonomy/types/new/",
    "/taxonomy/types/F4/",
    "/taxonomy/rules/",
    "/taxonomy/rules/?type=F4",
    "/taxonomy/try/",
    "/taxonomy/try/?types=F4&category=subject&region=420902003001",
]


@dataclass(frozen=True)
class Write:
    name: str
    path: str
    data: dict[str, Any]


WRITES = [
    Write(
        "group", "/taxonomy/groups/F/", {"F-name": "安全", "F-sign_days": "2", "F-reply_days": "5"}
    ),
    Write(
        "create",
        "/taxonomy/types/new/",
        {
            "code": "H7",
            "name": "新类型",
            "group": "__H__",
            "lead_kind": "education",
            "assisting_kinds": ["market"],
            "severity": "2",
        },
    ),
    Write(
        "edit",
        "/taxonomy/types/F4/edit/",
        {"name": "食品安全", "group": "__F__", "lead_kind": "market", "severity": "2"},
    ),
    Write("deactivate type", "/taxonomy/types/F4/active/", {"active": "0"}),
    Write(
        "rule",
        "/taxonomy/rules/new/",
        {"violation_type": "B1", "category": "", "region": "420902", "lead_kind": "market"},
    ),
    Write("deactivate rule", "/taxonomy/rules/{rule}/deactivate/", {}),
]


def _post(client: Client, write: Write, rule: RoutingRule) -> Any:
    groups = {f"__{g.code}__": str(g.pk) for g in ViolationGroup.objects.all()}
    data = {k: groups.get(v, v) if isinstance(v, str) else v for k, v in write.data.items()}
    return client.post(write.path.format(rule=rule.pk), data)


@pytest.mark.parametrize("path", PAGES)
def test_the_system_administrator_sees_every_page(
    admin: Client, a_rule: RoutingRule, path: str
) -> None:
    assert admin.get(path).status_code == 200


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("persona", OTHERS)
def test_every_other_persona_gets_404(
    client: Client, request: pytest.FixtureRequest, a_rule: RoutingRule, persona: str, path: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", PAGES + [w.path for w in WRITES])
def test_strangers_are_sent_to_sign_in(client: Client, a_rule: RoutingRule, path: str) -> None:
    response = client.get(path.format(rule=a_rule.pk))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
@pytest.mark.parametrize("persona", OTHERS)
def test_refused_posts_are_404_and_change_nothing(
    client: Client,
    request: pytest.FixtureRequest,
    a_rule: RoutingRule,
    persona: str,
    write: Write,
) -> None:
    client.force_login(request.getfixturevalue(persona))
    before = _state()
    assert _post(client, write, a_rule).status_code == 404
    assert _state() == before


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
def test_strangers_posts_change_nothing(client: Client, a_rule: RoutingRule, write: Write) -> None:
    before = _state()
    assert _post(client, write, a_rule).status_code == 302
    assert _state() == before


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
def test_the_system_administrators_posts_write(
    admin: Client, a_rule: RoutingRule, write: Write
) -> None:
    # The control of the refusals above: the same requests from the administrator do write.
    before = _state()
    response = _post(admin, write, a_rule)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert _state() != before


# What the pages show


def test_list_shows_groups_with_deadlines_and_types(admin: Client) -> None:
    content = admin.get("/taxonomy/").content.decode()
    assert 'action="/taxonomy/groups/B/"' in content
    assert 'name="B-reply_days" value="5"' in content
    assert ViolationType.objects.count() == 35
    assert content.count('href="/taxonomy/types/') == 35 + 1  # every type, and "add a type"


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("q=b3", {"B3"}),
        ("q=培训贷", {"D5"}),
        ("q=培訓貸", {"D5"}),  # Traditional input is matched as Simplified
        ("group=E", {"E1", "E2"}),
        ("group=E&q=户外", {"E2"}),
    ],
)
def test_list_filters_by_group_and_searches_code_and_name(
    admin: Client, query: str, codes: set[str]
) -> None:
    content = admin.get(f"/taxonomy/?{query}").content.decode()
    shown = {
        c
        for c in ViolationType.objects.values_list("code", flat=True)
        if f'href="/taxonomy/types/{c}/"' in content
    }
    assert shown == codes


def test_list_filters_by_active(admin: Client, admin_system: User) -> None:
    services.violation_type_set_active(
        actor=admin_system, violation_type=ViolationType.objects.get(code="B5"), is_active=False
    )
    content = admin.get("/taxonomy/?active=no").content.decode()
    assert 'href="/taxonomy/types/B5/"' in content
    assert 'href="/taxonomy/types/B4/"' not in content


def test_export_holds_the_filtered_types(admin: Client) -> None:
    response = admin.get("/taxonomy/?group=D&format=xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert [r[0] for r in rows[1:]] == ["D1", "D2", "D3", "D4", "D5", "D6", "D7"]
    assert rows[1][5] == 3  # severity


def test_list_runs_a_fixed_number_of_queries(
    admin: Client, admin_system: User, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(10):
        admin.get("/taxonomy/?group=B&q=换")
    for i in range(10, 20):
        services.violation_type_create(
            actor=admin_system,
            code=f"H{i}",
            name=f"计数类型{i}",
            group=ViolationGroup.objects.get(code="H"),
            lead_kind="education",
            assisting_kinds=["market", "public_security"],
        )
    with django_assert_max_num_queries(10):
        response = admin.get("/taxonomy/")
    assert "计数类型19" in response.content.decode()


def test_type_page_shows_rules_and_history(
    admin: Client, admin_system: User, a_rule: RoutingRule
) -> None:
    f4 = ViolationType.objects.get(code="F4")
    services.violation_type_update(
        actor=admin_system,
        violation_type=f4,
        assisting_kinds=["education"],
        group=ViolationGroup.objects.get(code="C"),
    )
    content = admin.get("/taxonomy/types/F4/").content.decode()
    assert "供餐由消防牵头" in content  # the active rule
    assert admin_system.get_username() in content
    # Before → after, readable: group codes and department labels, not ids.
    assert "F → C" in content
    assert "— → " in content


def test_type_page_does_not_list_inactive_rules(
    admin: Client, admin_system: User, a_rule: RoutingRule
) -> None:
    services.routing_rule_deactivate(actor=admin_system, rule=a_rule)
    assert "供餐由消防牵头" not in admin.get("/taxonomy/types/F4/").content.decode()


def test_unknown_type_is_404(admin: Client) -> None:
    assert admin.get("/taxonomy/types/Z9/").status_code == 404


def test_refused_edit_shows_the_error_and_changes_nothing(admin: Client) -> None:
    before = _state()
    d4 = ViolationType.objects.get(code="D4")
    response = admin.post(
        "/taxonomy/types/D4/edit/",
        {
            "name": d4.name,
            "group": str(d4.group_id),
            "lead_kind": "market",
            "assisting_kinds": ["market"],
            "severity": "2",
        },
    )
    assert response.status_code == 200
    assert escape(gettext("The lead department cannot also assist.")) in response.content.decode()
    assert _state() == before


def test_creating_a_taken_code_shows_the_error(admin: Client) -> None:
    before = _state()
    response = admin.post(
        "/taxonomy/types/new/",
        {
            "code": "A1",
            "name": "x",
            "group": str(ViolationGroup.objects.get(code="A").pk),
            "lead_kind": "education",
            "severity": "1",
        },
    )
    assert response.status_code == 200
    assert (
        escape(gettext("The code %(code)s is taken.") % {"code": "A1"}) in response.content.decode()
    )
    assert _state() == before


def test_a_duplicate_rule_is_refused_on_the_page(admin: Client, a_rule: RoutingRule) -> None:
    before = _state()
    response = admin.post(
        "/taxonomy/rules/new/",
        {"violation_type": "F4", "category": "subject", "region": "", "lead_kind": "market"},
    )
    assert response.status_code == 200
    assert escape(DUPLICATE_RULE) in response.content.decode()
    assert _state() == before


def test_a_rule_for_an_unknown_region_is_refused_on_the_page(admin: Client) -> None:
    before = _state()
    response = admin.post(
        "/taxonomy/rules/new/",
        {"violation_type": "F4", "category": "", "region": "429999", "lead_kind": "market"},
    )
    assert response.status_code == 200
    assert "429999" in response.content.decode()
    assert _state() == before


def test_rules_list_filters_by_type_and_hides_inactive_rules(
    admin: Client, admin_system: User, a_rule: RoutingRule
) -> None:
    services.routing_rule_create(
        actor=admin_system,
        violation_type=ViolationType.objects.get(code="B1"),
        lead_kind="public_security",
        note="线上由公安牵头",
    )
    assert "线上由公安牵头" not in admin.get("/taxonomy/rules/?type=F4").content.decode()
    assert "供餐由消防牵头" in admin.get("/taxonomy/rules/?type=F4").content.decode()
    services.routing_rule_deactivate(actor=admin_system, rule=a_rule)
    assert "供餐由消防牵头" not in admin.get("/taxonomy/rules/").content.decode()
    assert "供餐由消防牵头" in admin.get("/taxonomy/rules/?inactive=on").content.decode()


def test_try_the_routing_shows_lead_assisting_and_why(admin: Client, a_rule: RoutingRule) -> None:
    # F4 with a subject licence: the rule sends it to fire and rescue; D4 (market leads,
    # development and reform assists) adds the district's market regulator and the city's NDRC.
    response = admin.get("/taxonomy/try/?types=F4&types=D4&category=subject&region=420902003001")
    content = response.content.decode()
    result = content[content.index('id="routing-result"') :]
    assert result.index("孝感市消防救援支队") < result.index("孝南区市场监督管理局")
    assert "孝感市发展和改革委员会" in result
    assert "孝感市市场监督管理局" not in result  # the district's regulator is nearer
    assert escape(gettext("(rule #%(id)d)") % {"id": a_rule.pk}) in result


def test_try_the_routing_reports_a_missing_department(admin: Client) -> None:
    # D2: education leads, the central bank assists; switch the bank off.
    Department.objects.filter(kind="central_bank").update(is_active=False)
    content = admin.get("/taxonomy/try/?types=D2&category=subject&region=420902").content.decode()
    result = content[content.index('id="routing-result"') :]
    assert "孝南区教育局" in result
    left_out = result[result.index(escape(gettext("Left out"))) :]
    assert escape(str(DepartmentKind.CENTRAL_BANK.label)) in left_out


def test_try_the_routing_refuses_an_unknown_region(admin: Client) -> None:
    response = admin.get("/taxonomy/try/?types=D2&category=subject&region=999999")
    assert response.status_code == 200
    assert 'id="routing-result"' not in response.content.decode()
