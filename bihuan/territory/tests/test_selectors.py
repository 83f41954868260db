"""Scoped reads of the territory: exactly which regions, areas and sentinels each persona sees.

The demo city plus the records of ``build_elsewhere`` (书院 beside 广场, 孝昌县 beside 孝南区,
武汉市 beside 孝感市), so that every persona has something just outside its place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from bihuan.accounts import services as account_services
from bihuan.accounts.models import Role, User
from bihuan.accounts.tests.test_scope_matrix import (
    NEW_PASSWORD,
    PERSONAS,
    city_for_module,
    regions_csv,
)
from bihuan.territory import imports
from bihuan.territory import services as territory_services
from bihuan.territory.models import Area, Region
from bihuan.territory.selectors import (
    area_responsibles,
    areas_visible_to,
    region_children,
    region_imports_visible_to,
    regions_visible_to,
    sentinels_visible_to,
)

WENCHANG, HUAIYIN, QIANKUN = "420902003001", "420902003002", "420902003003"
GUANGCHANG = {"420902003000", WENCHANG, HUAIYIN, QIANKUN}
XIAONAN = GUANGCHANG | {
    "420902",
    "420902001000",
    "420902001001",
    "420902002000",
    "420902002001",
    "420902004000",
    "420902004001",
}
CITY = XIAONAN | {
    "420900",
    "420921",
    "420921100000",
    "420921100001",
    "420922",
    "420923",
    "420981",
    "420982",
    "420984",
}
EVERYTHING = CITY | {"420000", "420100", "420102", "420102001000", "420102001001"}

REGIONS: dict[str, set[str]] = {
    "admin_system": EVERYTHING,
    "admin_security": EVERYTHING,
    "admin_audit": set(),
    "supervisor_city": CITY,
    "supervisor_xiaonan": XIAONAN,
    "coordinator_wenchang": {WENCHANG},
    "coordinator_huaiyin": {HUAIYIN},
    "inspector_wenchang": {WENCHANG},
    "officer_market": CITY,
    "school_tiyulu": {WENCHANG},
    "area_guangchang": GUANGCHANG,
}

GC_AREA, SY_AREA, XC_AREA, JA_AREA = "广场学区片区", "书院示范片区", "孝昌示范片区", "江岸示范片区"
AREAS: dict[str, set[str]] = {
    "admin_system": {GC_AREA, SY_AREA, XC_AREA, JA_AREA},
    "admin_security": {GC_AREA, SY_AREA, XC_AREA, JA_AREA},
    "admin_audit": set(),
    "supervisor_city": {GC_AREA, SY_AREA, XC_AREA},
    "supervisor_xiaonan": {GC_AREA, SY_AREA},
    # 广场学区片区 lies on the street above the community but covers it.
    "coordinator_wenchang": {GC_AREA},
    "coordinator_huaiyin": {GC_AREA},
    "inspector_wenchang": {GC_AREA},
    "officer_market": {GC_AREA, SY_AREA, XC_AREA},
    "school_tiyulu": {GC_AREA},
    "area_guangchang": {GC_AREA},
}

GUANGCHANG_SENTINELS = {"文昌社区", "体育路学校", "槐荫社区", "广场示范小学", "乾坤社区"}
XIAONAN_SENTINELS = GUANGCHANG_SENTINELS | {"书院示范社区"}
CITY_SENTINELS = XIAONAN_SENTINELS | {"孝昌示范小学"}
SENTINELS: dict[str, set[str]] = {
    "admin_system": CITY_SENTINELS | {"江岸示范小学"},
    "admin_security": CITY_SENTINELS | {"江岸示范小学"},
    "admin_audit": set(),
    "supervisor_city": CITY_SENTINELS,
    "supervisor_xiaonan": XIAONAN_SENTINELS,
    "coordinator_wenchang": {"文昌社区", "体育路学校"},
    "coordinator_huaiyin": {"槐荫社区", "广场示范小学"},
    "inspector_wenchang": {"文昌社区", "体育路学校"},
    "officer_market": CITY_SENTINELS,
    "school_tiyulu": {"文昌社区", "体育路学校"},
    "area_guangchang": GUANGCHANG_SENTINELS,
}

TOPS: dict[str, list[str]] = {
    "admin_system": ["420000"],
    "admin_security": ["420000"],
    "admin_audit": [],
    "supervisor_city": ["420900"],
    "supervisor_xiaonan": ["420902"],
    "coordinator_wenchang": [WENCHANG],
    "coordinator_huaiyin": [HUAIYIN],
    "inspector_wenchang": [WENCHANG],
    "officer_market": ["420900"],
    "school_tiyulu": [WENCHANG],
    "area_guangchang": ["420902003000"],
}


pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(db: None) -> dict[str, int]:
    # Overrides conftest's for this module: the city is already there, the personas only look up.
    return {}


def _region(code: str) -> Region:
    return Region.objects.get(code=code)


@pytest.mark.parametrize("persona", PERSONAS)
def test_regions_visible_are_the_subtrees_of_the_grants(
    request: pytest.FixtureRequest, persona: str
) -> None:
    codes = regions_visible_to(request.getfixturevalue(persona)).values_list("code", flat=True)
    assert set(codes) == REGIONS[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_areas_visible_lie_in_or_cover_the_place(
    request: pytest.FixtureRequest, persona: str
) -> None:
    names = areas_visible_to(request.getfixturevalue(persona)).values_list("name", flat=True)
    assert set(names) == AREAS[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_sentinels_visible_are_those_of_the_place(
    request: pytest.FixtureRequest, persona: str
) -> None:
    names = sentinels_visible_to(request.getfixturevalue(persona)).values_list("name", flat=True)
    assert set(names) == SENTINELS[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_tops_of_the_tree_are_the_highest_visible_regions(
    request: pytest.FixtureRequest, persona: str
) -> None:
    tops = region_children(request.getfixturevalue(persona), None)
    assert [r.code for r in tops] == TOPS[persona]


def test_anonymous_visitor_sees_no_territory(demo_city: dict[str, int]) -> None:
    visitor = AnonymousUser()
    assert not regions_visible_to(visitor).exists()
    assert not areas_visible_to(visitor).exists()
    assert not sentinels_visible_to(visitor).exists()


def test_grant_covers_a_region_added_below_it_later(
    area_guangchang: User, coordinator_wenchang: User
) -> None:
    territory_services.region_upsert(
        actor=None,
        code="420902003004",
        name="新建社区",
        level="community",
        parent_code="420902003000",
    )
    assert regions_visible_to(area_guangchang).filter(code="420902003004").exists()
    assert not regions_visible_to(coordinator_wenchang).filter(code="420902003004").exists()


def test_two_grants_see_both_places_once(admin_security: User, coordinator_wenchang: User) -> None:
    account_services.assignment_grant(
        actor=admin_security,
        user=coordinator_wenchang,
        role=Role.INSPECTOR,
        region=_region(HUAIYIN),
    )
    fresh = User.objects.get(pk=coordinator_wenchang.pk)
    codes = list(regions_visible_to(fresh).values_list("code", flat=True))
    assert sorted(codes) == [WENCHANG, HUAIYIN]


def test_grant_within_another_grant_adds_no_duplicate_row(
    admin_security: User, area_guangchang: User
) -> None:
    account_services.assignment_grant(
        actor=admin_security,
        user=area_guangchang,
        role=Role.INSPECTOR,
        region=_region(WENCHANG),
    )
    fresh = User.objects.get(pk=area_guangchang.pk)
    codes = list(regions_visible_to(fresh).values_list("code", flat=True))
    assert sorted(codes) == sorted(GUANGCHANG)


def test_ended_grant_no_longer_covers_its_place(
    admin_security: User, coordinator_wenchang: User
) -> None:
    for assignment in coordinator_wenchang.assignments.filter(is_active=True):
        account_services.assignment_end(actor=admin_security, assignment=assignment)
    assert not regions_visible_to(User.objects.get(pk=coordinator_wenchang.pk)).exists()


def test_area_on_the_district_covering_a_community_is_visible_to_its_coordinator(
    coordinator_wenchang: User, coordinator_huaiyin: User
) -> None:
    territory_services.area_create(
        actor=None, name="文昌专项片区", region=_region("420902"), communities=[_region(WENCHANG)]
    )
    assert areas_visible_to(coordinator_wenchang).filter(name="文昌专项片区").exists()
    assert not areas_visible_to(coordinator_huaiyin).filter(name="文昌专项片区").exists()


def test_children_are_the_visible_children_with_their_counts(
    supervisor_xiaonan: User,
) -> None:
    children = region_children(supervisor_xiaonan, _region("420902003000"))
    assert [(r.code, r.child_count) for r in children] == [  # type: ignore[attr-defined]
        (WENCHANG, 0),
        (HUAIYIN, 0),
        (QIANKUN, 0),
    ]


def test_children_of_a_region_leave_out_those_out_of_scope(
    admin_security: User, coordinator_wenchang: User
) -> None:
    account_services.assignment_grant(
        actor=admin_security,
        user=coordinator_wenchang,
        role=Role.INSPECTOR,
        region=_region(HUAIYIN),
    )
    fresh = User.objects.get(pk=coordinator_wenchang.pk)
    children = region_children(fresh, _region("420902003000"))
    assert [r.code for r in children] == [WENCHANG, HUAIYIN]


def test_area_responsibles_are_the_active_parties(demo_city: dict[str, int]) -> None:
    area = Area.objects.get(name=GC_AREA)
    first, *others = area_responsibles(area).order_by("pk")
    territory_services.area_responsible_end(actor=None, party=first)
    assert list(area_responsibles(area).order_by("pk")) == others


def test_system_admin_sees_only_their_own_region_imports(admin_system: User) -> None:
    colleague = account_services.user_create(
        actor=None, username="admin2", password=NEW_PASSWORD, display_name="第二系统管理员"
    )
    account_services.assignment_grant(
        actor=None, user=colleague, role=Role.SYSTEM_ADMIN, region=_region("420900")
    )
    own = imports.region_import_create(actor=admin_system, upload=regions_csv())
    imports.region_import_create(actor=colleague, upload=regions_csv())
    assert list(region_imports_visible_to(admin_system)) == [own]


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "admin_system"])
def test_region_imports_are_hidden_from_other_roles(
    request: pytest.FixtureRequest, admin_system: User, persona: str
) -> None:
    imports.region_import_create(actor=admin_system, upload=regions_csv())
    assert not region_imports_visible_to(request.getfixturevalue(persona)).exists()
