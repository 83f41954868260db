"""Scoped reads of accounts: exactly which departments and users each persona sees.

Departments: those whose jurisdiction lies within the place, and those covering it (a community
coordinator works with the city's and the district's bureaus). Users: administrators see every
account, supervisors and coordinators the people of their place, everyone else only themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from bihuan.accounts import services as account_services
from bihuan.accounts.models import Assignment, Role, User
from bihuan.accounts.selectors import assignments_of, departments_visible_to, users_visible_to
from bihuan.accounts.tests.test_scope_matrix import PERSONAS, city_for_module
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db

PROVINCE = {"湖北省教育厅"}
CITY = {
    "孝感市教育局",
    "孝感市市场监督管理局",
    "孝感市文化和旅游局",
    "孝感市科学技术局",
    "孝感市公安局",
    "孝感市发展和改革委员会",
    "孝感市城市管理执法委员会",
    "孝感市消防救援支队",
    "中国人民银行孝感市分行",
}
XIAONAN = {"孝南区教育局", "孝南区市场监督管理局"}
XIAOCHANG, WUHAN = {"孝昌县市场监督管理局"}, {"武汉市市场监督管理局"}
# Above and within 孝南区: what every place in 孝南区 works with.
COVERING_XIAONAN = PROVINCE | CITY | XIAONAN

DEPARTMENTS: dict[str, set[str]] = {
    "admin_system": COVERING_XIAONAN | XIAOCHANG | WUHAN,
    "admin_security": COVERING_XIAONAN | XIAOCHANG | WUHAN,
    "admin_audit": set(),
    "supervisor_city": COVERING_XIAONAN | XIAOCHANG,
    "supervisor_xiaonan": COVERING_XIAONAN,
    "coordinator_wenchang": COVERING_XIAONAN,
    "coordinator_huaiyin": COVERING_XIAONAN,
    "inspector_wenchang": COVERING_XIAONAN,
    "officer_market": COVERING_XIAONAN | XIAOCHANG,
    "school_tiyulu": COVERING_XIAONAN,
    "area_guangchang": COVERING_XIAONAN,
}

EVERYONE = {
    "admin",
    "security",
    "auditor",
    "supervisor",
    "xiaonan",
    "wenchang",
    "huaiyin",
    "yangtiezhu",
    "inspector2",
    "market",
    "school",
    "pianqu",
    "xiaochang",
    "jiangan",
    "xnjiaoyu",
    "xnmarket",
    "gongan",
}
OF_WENCHANG = {"wenchang", "yangtiezhu", "inspector2", "school"}
OF_XIAONAN = OF_WENCHANG | {"xiaonan", "huaiyin", "pianqu", "xnjiaoyu", "xnmarket"}
USERS: dict[str, set[str]] = {
    "admin_system": EVERYONE,
    "admin_security": EVERYONE,
    "admin_audit": {"auditor"},
    # Never the administrators, though their role is held at 孝感市.
    "supervisor_city": OF_XIAONAN | {"supervisor", "market", "gongan", "xiaochang"},
    "supervisor_xiaonan": OF_XIAONAN,
    "coordinator_wenchang": OF_WENCHANG,
    "coordinator_huaiyin": {"huaiyin"},
    "inspector_wenchang": {"yangtiezhu"},
    "officer_market": {"market"},
    "school_tiyulu": {"school"},
    "area_guangchang": {"pianqu"},
}


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # Overrides conftest's for this module: the city is already there, the personas only look up.
    return {}


@pytest.mark.parametrize("persona", PERSONAS)
def test_departments_visible_cover_or_lie_within_the_place(
    request: pytest.FixtureRequest, persona: str
) -> None:
    user = request.getfixturevalue(persona)
    assert set(departments_visible_to(user).values_list("name", flat=True)) == DEPARTMENTS[persona]


def test_community_coordinator_sees_the_city_and_district_departments_covering_it(
    coordinator_wenchang: User,
) -> None:
    jurisdictions = set(
        departments_visible_to(coordinator_wenchang).values_list("jurisdiction__code", flat=True)
    )
    # 湖北省 › 孝感市 › 孝南区 lie above 文昌社区; nothing beside it (孝昌县, 武汉市).
    assert jurisdictions == {"420000", "420900", "420902"}


@pytest.mark.parametrize("persona", PERSONAS)
def test_users_visible_are_the_people_of_the_place(
    request: pytest.FixtureRequest, persona: str
) -> None:
    user = request.getfixturevalue(persona)
    assert set(users_visible_to(user).values_list("username", flat=True)) == USERS[persona]


def test_anonymous_visitor_sees_no_department_and_no_user() -> None:
    assert not departments_visible_to(AnonymousUser()).exists()
    assert not users_visible_to(AnonymousUser()).exists()


def test_coordinator_no_longer_sees_an_inspector_whose_role_ended(
    admin_security: User, coordinator_wenchang: User
) -> None:
    inspector = User.objects.get(username="inspector2")
    account_services.assignment_end(
        actor=admin_security, assignment=inspector.assignments.get(is_active=True)
    )
    assert not users_visible_to(coordinator_wenchang).filter(pk=inspector.pk).exists()


def test_coordinator_sees_an_inspector_once_assigned_to_their_community(
    admin_security: User, coordinator_huaiyin: User
) -> None:
    inspector = User.objects.get(username="inspector2")
    account_services.assignment_grant(
        actor=admin_security,
        user=inspector,
        role=Role.INSPECTOR,
        region=Region.objects.get(code="420902003002"),
    )
    assert list(users_visible_to(coordinator_huaiyin).filter(pk=inspector.pk)) == [inspector]


def test_user_holding_two_roles_in_the_place_is_listed_once(
    admin_security: User, supervisor_xiaonan: User
) -> None:
    inspector = User.objects.get(username="inspector2")
    account_services.assignment_grant(
        actor=admin_security,
        user=inspector,
        role=Role.INSPECTOR,
        region=Region.objects.get(code="420902003002"),
    )
    usernames = list(users_visible_to(supervisor_xiaonan).values_list("username", flat=True))
    assert usernames.count("inspector2") == 1


def test_assignments_of_a_user_are_the_active_ones_by_role_then_place(
    admin_security: User,
) -> None:
    inspector = User.objects.get(username="inspector2")
    regions = {r.code: r for r in Region.objects.filter(code__startswith="42090200300")}
    later = account_services.assignment_grant(
        actor=admin_security, user=inspector, role=Role.INSPECTOR, region=regions["420902003003"]
    )
    ended = account_services.assignment_grant(
        actor=admin_security, user=inspector, role=Role.INSPECTOR, region=regions["420902003002"]
    )
    account_services.assignment_end(actor=admin_security, assignment=ended)
    coordinator = account_services.assignment_grant(
        actor=admin_security, user=inspector, role=Role.COORDINATOR, region=regions["420902003002"]
    )
    first = Assignment.objects.get(user=inspector, region=regions["420902003001"])
    assert list(assignments_of(inspector)) == [coordinator, first, later]
