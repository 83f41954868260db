"""Taxonomy writes: each succeeds for the system administrator, records its history, and every
refusal leaves the taxonomy, the rules and the audit log exactly as they were."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.utils.translation import gettext

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads import taxonomy_services as services
from bihuan.leads.models import RoutingRule, ViolationGroup, ViolationType
from bihuan.territory.models import Region

DUPLICATE_RULE = gettext(
    "An active rule for this type, licence category and region exists already; deactivate it first."
)
NON_ADMINS = [
    "admin_security",
    "admin_audit",
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
    "inspector_wenchang",
    "officer_market",
    "school_tiyulu",
    "area_guangchang",
]


def _state() -> tuple[Any, ...]:
    return (
        list(ViolationGroup.objects.order_by("pk").values()),
        list(ViolationType.objects.order_by("pk").values()),
        list(RoutingRule.objects.order_by("pk").values()),
        Event.objects.count(),
    )


def _type(code: str) -> ViolationType:
    return ViolationType.objects.get(code=code)


def _group(code: str) -> ViolationGroup:
    return ViolationGroup.objects.get(code=code)


def _events(obj: Any) -> list[Event]:
    return list(
        Event.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by(
            "at", "id"
        )
    )


def _refused(call: Callable[[], Any], match: str | None = None) -> ServiceError:
    before = _state()
    with pytest.raises(ServiceError, match=match) as info:
        call()
    assert _state() == before
    return info.value


# violation_type_create


def test_create_adds_the_type_and_records_it(admin_system: User) -> None:
    created = services.violation_type_create(
        actor=admin_system,
        code="h3",
        name="  利用网络直播间开展学科类培训 ",
        group=_group("H"),
        lead_kind="education",
        assisting_kinds=["public_security", "market"],
        severity=3,
        legal_basis="“双减”意见",
        is_disguised=True,
    )
    created.refresh_from_db()
    assert (created.code, created.name, created.assisting_kinds, created.is_active) == (
        "H3",
        "利用网络直播间开展学科类培训",
        ["public_security", "market"],
        True,
    )
    [event] = _events(created)
    assert event.verb == "violation_type.created"
    assert event.actor == admin_system
    assert event.before is None
    assert event.after is not None
    assert event.after["code"] == "H3"
    assert event.after["group"] == _group("H").pk


@pytest.mark.parametrize("code", ["", "H", "HH1", "H123", "1H", "H-1", "Ｈ3"])
def test_create_refuses_a_code_not_one_letter_and_one_or_two_digits(
    admin_system: User, code: str
) -> None:
    error = _refused(
        lambda: services.violation_type_create(
            actor=admin_system, code=code, name="x", group=_group("H"), lead_kind="education"
        )
    )
    assert error.field == "code"


def test_create_refuses_a_code_that_exists(admin_system: User) -> None:
    error = _refused(
        lambda: services.violation_type_create(
            actor=admin_system, code="B3", name="x", group=_group("B"), lead_kind="education"
        ),
        match="B3",
    )
    assert error.field == "code"


@pytest.mark.parametrize(
    ("lead", "assisting", "field"),
    [
        ("police", [], "lead_kind"),
        ("", [], "lead_kind"),
        ("education", ["market", "tax"], "assisting_kinds"),
        ("education", ["market", "education"], "assisting_kinds"),
        ("competent", ["competent"], "assisting_kinds"),
        ("education", ["market", "market"], "assisting_kinds"),
    ],
    ids=["unknown lead", "no lead", "unknown assisting", "lead assists", "competent twice", "dup"],
)
def test_create_refuses_bad_department_kinds(
    admin_system: User, lead: str, assisting: list[str], field: str
) -> None:
    error = _refused(
        lambda: services.violation_type_create(
            actor=admin_system,
            code="H7",
            name="x",
            group=_group("H"),
            lead_kind=lead,
            assisting_kinds=assisting,
        )
    )
    assert error.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"name": "  "}, "name"), ({"name": "长" * 201}, "name"), ({"severity": 4}, "severity")],
)
def test_create_refuses_a_blank_name_or_unknown_severity(
    admin_system: User, changes: dict[str, Any], field: str
) -> None:
    values: dict[str, Any] = {
        "code": "H7",
        "name": "x",
        "group": _group("H"),
        "lead_kind": "education",
    }
    error = _refused(
        lambda: services.violation_type_create(actor=admin_system, **(values | changes))
    )
    assert error.field == field


# violation_type_update


def test_update_changes_the_fields_and_records_before_and_after(admin_system: User) -> None:
    f4 = _type("F4")
    services.violation_type_update(
        actor=admin_system,
        violation_type=f4,
        lead_kind="market",
        assisting_kinds=["fire_rescue", "competent"],
        severity=2,
        group=_group("C"),
    )
    f4.refresh_from_db()
    assert (f4.assisting_kinds, f4.severity, f4.group.code, f4.code) == (
        ["fire_rescue", "competent"],
        2,
        "C",
        "F4",
    )
    [event] = _events(f4)
    assert event.verb == "violation_type.updated"
    assert event.before is not None and event.after is not None
    assert (event.before["severity"], event.after["severity"]) == (3, 2)
    assert (event.before["assisting_kinds"], event.after["assisting_kinds"]) == (
        [],
        ["fire_rescue", "competent"],
    )
    assert (event.before["group"], event.after["group"]) == (_group("F").pk, _group("C").pk)


def test_update_that_changes_nothing_records_nothing(admin_system: User) -> None:
    f4 = _type("F4")
    before = _state()
    services.violation_type_update(actor=admin_system, violation_type=f4, name=f4.name)
    assert _state() == before


def test_update_checks_a_new_lead_against_the_assisting_kinds_kept(admin_system: User) -> None:
    # D4: market leads, development_reform assists; making development_reform lead is refused.
    error = _refused(
        lambda: services.violation_type_update(
            actor=admin_system, violation_type=_type("D4"), lead_kind="development_reform"
        )
    )
    assert error.field == "assisting_kinds"


@pytest.mark.parametrize(
    "changes",
    [
        {"lead_kind": "tax"},
        {"assisting_kinds": ["market", "market"]},
        {"assisting_kinds": ["education"]},
        {"severity": 0},
        {"name": ""},
    ],
)
def test_update_refuses_invalid_changes(admin_system: User, changes: dict[str, Any]) -> None:
    _refused(
        lambda: services.violation_type_update(
            actor=admin_system, violation_type=_type("B1"), **changes
        )
    )


# violation_type_set_active


def test_deactivate_and_activate_are_recorded(admin_system: User) -> None:
    b5 = _type("B5")
    services.violation_type_set_active(actor=admin_system, violation_type=b5, is_active=False)
    b5.refresh_from_db()
    assert not b5.is_active
    services.violation_type_set_active(actor=admin_system, violation_type=b5, is_active=True)
    b5.refresh_from_db()
    assert b5.is_active
    assert [e.verb for e in _events(b5)] == [
        "violation_type.deactivated",
        "violation_type.activated",
    ]
    first = _events(b5)[0]
    assert (first.before or {})["is_active"] is True
    assert (first.after or {})["is_active"] is False


@pytest.mark.parametrize("is_active", [True, False])
def test_setting_the_state_a_type_already_has_is_refused(
    admin_system: User, is_active: bool
) -> None:
    b5 = _type("B5")
    if not is_active:
        services.violation_type_set_active(actor=admin_system, violation_type=b5, is_active=False)
    _refused(
        lambda: services.violation_type_set_active(
            actor=admin_system, violation_type=b5, is_active=is_active
        ),
        match="B5",
    )


# violation_group_update


def test_group_update_changes_deadlines_and_records_them(admin_system: User) -> None:
    group = _group("F")
    services.violation_group_update(
        actor=admin_system, group=group, name="安全隐患", sign_days=2, reply_days=60
    )
    group.refresh_from_db()
    assert (group.name, group.sign_days, group.reply_days) == ("安全隐患", 2, 60)
    [event] = _events(group)
    assert event.verb == "violation_group.updated"
    assert event.before == {"code": "F", "name": "安全", "sign_days": 1, "reply_days": 3}
    assert event.after == {"code": "F", "name": "安全隐患", "sign_days": 2, "reply_days": 60}


@pytest.mark.parametrize(
    "changes",
    [{"sign_days": 0}, {"reply_days": 61}, {"sign_days": -1}, {"name": " "}],
)
def test_group_update_refuses_deadlines_out_of_range_or_no_name(
    admin_system: User, changes: dict[str, Any]
) -> None:
    _refused(
        lambda: services.violation_group_update(actor=admin_system, group=_group("F"), **changes)
    )


# routing_rule_create and routing_rule_deactivate


def test_rule_create_saves_and_records_the_rule(admin_system: User) -> None:
    xiaonan = Region.objects.get(code="420902")
    rule = services.routing_rule_create(
        actor=admin_system,
        violation_type=_type("F4"),
        category="subject",
        region=xiaonan,
        lead_kind="fire_rescue",
        assisting_kinds=["education"],
        note="  区里由消防牵头 ",
    )
    rule.refresh_from_db()
    assert (rule.is_active, rule.region, rule.note) == (True, xiaonan, "区里由消防牵头")
    [event] = _events(rule)
    assert event.verb == "routing_rule.created"
    assert (event.after or {})["region"] == xiaonan.pk


@pytest.mark.parametrize("region_code", [None, "420902"], ids=["everywhere", "in a region"])
def test_a_second_active_rule_for_the_same_type_category_and_region_is_refused(
    admin_system: User, region_code: str | None
) -> None:
    region = Region.objects.get(code=region_code) if region_code else None
    values: dict[str, Any] = {"violation_type": _type("F4"), "category": "arts", "region": region}
    services.routing_rule_create(actor=admin_system, lead_kind="fire_rescue", **values)
    error = _refused(
        lambda: services.routing_rule_create(actor=admin_system, lead_kind="market", **values),
        match=re.escape(DUPLICATE_RULE),
    )
    assert error.field == "violation_type"


def test_rules_differing_in_category_or_region_coexist(admin_system: User) -> None:
    f4 = _type("F4")
    xiaonan = Region.objects.get(code="420902")
    for category, region in [("", None), ("arts", None), ("", xiaonan), ("arts", xiaonan)]:
        services.routing_rule_create(
            actor=admin_system,
            violation_type=f4,
            category=category,
            region=region,
            lead_kind="fire_rescue",
        )
    assert RoutingRule.objects.filter(violation_type=f4, is_active=True).count() == 4


def test_changing_a_rule_is_deactivate_then_create(admin_system: User) -> None:
    f4 = _type("F4")
    old = services.routing_rule_create(actor=admin_system, violation_type=f4, lead_kind="market")
    services.routing_rule_deactivate(actor=admin_system, rule=old)
    new = services.routing_rule_create(
        actor=admin_system, violation_type=f4, lead_kind="fire_rescue"
    )
    old.refresh_from_db()
    assert (old.is_active, new.is_active) == (False, True)
    assert [e.verb for e in _events(old)] == ["routing_rule.created", "routing_rule.deactivated"]
    assert RoutingRule.objects.filter(violation_type=f4).count() == 2


def test_deactivating_an_inactive_rule_is_refused(admin_system: User) -> None:
    rule = services.routing_rule_create(
        actor=admin_system, violation_type=_type("F4"), lead_kind="market"
    )
    services.routing_rule_deactivate(actor=admin_system, rule=rule)
    _refused(lambda: services.routing_rule_deactivate(actor=admin_system, rule=rule))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"category": "cooking"}, "category"),
        ({"lead_kind": "tax"}, "lead_kind"),
        ({"assisting_kinds": ["market"]}, "assisting_kinds"),
        ({"assisting_kinds": ["education", "education"]}, "assisting_kinds"),
        ({"note": "长" * 301}, "note"),
    ],
)
def test_rule_create_refuses_invalid_rules(
    admin_system: User, changes: dict[str, Any], field: str
) -> None:
    values: dict[str, Any] = {"violation_type": _type("F4"), "lead_kind": "market"} | changes
    error = _refused(lambda: services.routing_rule_create(actor=admin_system, **values))
    assert error.field == field


# Who may: only the system administrator (and the system itself, with no actor).


@pytest.fixture
def a_rule(demo_city: dict[str, int]) -> RoutingRule:
    return services.routing_rule_create(actor=None, violation_type=_type("F4"), lead_kind="market")


CALLS: dict[str, Callable[[Any, RoutingRule], Any]] = {
    "create": lambda actor, rule: services.violation_type_create(
        actor=actor, code="H7", name="x", group=_group("H"), lead_kind="education"
    ),
    "update": lambda actor, rule: services.violation_type_update(
        actor=actor, violation_type=_type("B1"), name="改名"
    ),
    "set_active": lambda actor, rule: services.violation_type_set_active(
        actor=actor, violation_type=_type("B1"), is_active=False
    ),
    "group": lambda actor, rule: services.violation_group_update(
        actor=actor, group=_group("B"), reply_days=9
    ),
    "rule_create": lambda actor, rule: services.routing_rule_create(
        actor=actor, violation_type=_type("B1"), lead_kind="market"
    ),
    "rule_deactivate": lambda actor, rule: services.routing_rule_deactivate(actor=actor, rule=rule),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("persona", NON_ADMINS)
def test_only_the_system_administrator_may_change_the_taxonomy(
    request: pytest.FixtureRequest, a_rule: RoutingRule, persona: str, call: str
) -> None:
    actor = request.getfixturevalue(persona)
    before = _state()
    with pytest.raises(NotAllowed):
        CALLS[call](actor, a_rule)
    assert _state() == before


@pytest.mark.parametrize("call", list(CALLS))
def test_the_system_administrator_may(admin_system: User, a_rule: RoutingRule, call: str) -> None:
    before = _state()
    CALLS[call](admin_system, a_rule)
    assert _state() != before
    assert Event.objects.latest("id").actor == admin_system


def test_a_deactivated_user_may_not(admin_system: User, a_rule: RoutingRule) -> None:
    admin_system.is_active = False
    admin_system.save(update_fields=["is_active"])
    before = _state()
    with pytest.raises(NotAllowed):
        CALLS["group"](admin_system, a_rule)
    assert _state() == before
