"""The demo city: loading it twice changes nothing, and its logins hold the promised roles."""

from __future__ import annotations

from bihuan.accounts.models import Assignment, Role, User
from bihuan.audit.models import Event
from bihuan.demo import data
from bihuan.demo.loader import load_demo
from bihuan.territory.models import Area, Region, Sentinel

LOGINS = {
    "admin": (Role.SYSTEM_ADMIN, "420900"),
    "security": (Role.SECURITY_ADMIN, "420900"),
    "auditor": (Role.AUDIT_ADMIN, "420900"),
    "supervisor": (Role.SUPERVISOR, "420900"),
    "xiaonan": (Role.SUPERVISOR, "420902"),
    "wenchang": (Role.COORDINATOR, "420902003001"),
    "yangtiezhu": (Role.INSPECTOR, "420902003001"),
    "market": (Role.OFFICER, "420900"),
    "school": (Role.SCHOOL_SENTINEL, "420902003001"),
    "pianqu": (Role.AREA_RESPONSIBLE, "420902003000"),
}


def test_first_load_creates_the_whole_city(demo_city: dict[str, int]) -> None:
    expected = {
        "regions": len(data.REGIONS),
        "departments": len(data.DEPARTMENTS),
        "sentinels": len(data.SENTINELS),
        "areas": 1,
        "users": len(data.USERS),
        "roles": len(data.USERS),
    }
    assert {key: demo_city.get(key) for key in expected} == expected


def test_second_load_creates_nothing_and_writes_no_event(demo_city: dict[str, int]) -> None:
    events = Event.objects.count()
    rows = (Region.objects.count(), User.objects.count(), Assignment.objects.count())
    assert load_demo() == dict.fromkeys(demo_city, 0)
    assert Event.objects.count() == events
    assert (Region.objects.count(), User.objects.count(), Assignment.objects.count()) == rows


def test_every_demo_change_was_recorded(demo_city: dict[str, int]) -> None:
    assert Event.objects.filter(verb="region.created").count() == len(data.REGIONS)
    assert Event.objects.filter(verb="user.created").count() == len(data.USERS)
    assert Event.objects.filter(verb="assignment.granted").count() == len(data.USERS)


def test_each_demo_login_holds_one_role_in_its_place(demo_city: dict[str, int]) -> None:
    held = {
        username: (role, code)
        for username, role, code in Assignment.objects.filter(
            user__username__in=LOGINS, is_active=True
        ).values_list("user__username", "role", "region__code")
    }
    assert held == LOGINS
    assert Assignment.objects.filter(user__username__in=LOGINS).count() == len(LOGINS)


def test_demo_logins_sign_in_with_the_printed_password(demo_city: dict[str, int]) -> None:
    users = User.objects.filter(username__in=LOGINS)
    assert {u.username for u in users if u.is_active and u.is_demo} == set(LOGINS)
    assert all(u.check_password(data.DEMO_PASSWORD) for u in users)


def test_wenchang_coordinates_wenchang_community(demo_city: dict[str, int]) -> None:
    assignment = Assignment.objects.get(user__username="wenchang", is_active=True)
    assert assignment.role == Role.COORDINATOR
    assert (assignment.region.name, assignment.region.code) == ("文昌社区", "420902003001")


def test_school_is_the_sentinel_of_tiyulu_school(demo_city: dict[str, int]) -> None:
    assignment = Assignment.objects.get(user__username="school", is_active=True)
    assert assignment.role == Role.SCHOOL_SENTINEL
    assert assignment.sentinel is not None
    assert assignment.sentinel.name == "体育路学校"
    assert assignment.sentinel.kind == "school"
    assert assignment.sentinel.region.code == "420902003001"


def test_market_officer_belongs_to_the_city_market_regulator(demo_city: dict[str, int]) -> None:
    assignment = Assignment.objects.get(user__username="market", is_active=True)
    assert assignment.department is not None
    assert assignment.department.name == "孝感市市场监督管理局"


def test_area_responsible_is_named_on_the_area(demo_city: dict[str, int]) -> None:
    area = Area.objects.get(name="广场学区片区")
    assignment = Assignment.objects.get(user__username="pianqu", is_active=True)
    assert assignment.area == area
    assert set(area.communities.values_list("code", flat=True)) == {
        "420902003001",
        "420902003002",
        "420902003003",
    }
    assert area.responsibles.filter(name="周明", is_active=True).exists()


def test_synthetic_records_are_marked(demo_city: dict[str, int]) -> None:
    assert Region.objects.get(code="420902003000").is_synthetic is False
    assert Region.objects.get(code="420902003001").is_synthetic is True
    assert Sentinel.objects.get(name="体育路学校").is_synthetic is False
    assert not User.objects.filter(is_synthetic=False).exists()
