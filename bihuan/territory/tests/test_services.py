"""Writes to the territory: each change is checked against the tree and recorded once."""

from __future__ import annotations

import pytest

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.demo.data import GUANGCHANG, HUAIYIN, QIANKUN, WENCHANG, XIAONAN
from bihuan.territory import services
from bihuan.territory.models import Area, Region, Sentinel, SentinelKind

NEW_STREET = "420902005000"


def _region(code: str) -> Region:
    return Region.objects.get(code=code)


def _events(obj: Region | Area | Sentinel) -> list[Event]:
    label = obj._meta.label_lower
    return list(Event.objects.filter(object_type=label, object_id=str(obj.pk)).order_by("id"))


def _writes_nothing() -> tuple[int, int, int, int]:
    return (
        Region.objects.count(),
        Area.objects.count(),
        Sentinel.objects.count(),
        Event.objects.count(),
    )


def test_region_upsert_creates_a_region_under_its_parent(admin_system: User) -> None:
    region, outcome = services.region_upsert(
        actor=admin_system, code=NEW_STREET, name="新建街道", level="street", parent_code=XIAONAN
    )
    assert outcome == "created"
    assert region.parent == _region(XIAONAN)
    assert region.path == f"420000/420900/{XIAONAN}/{NEW_STREET}/"
    assert region.depth == 3
    [event] = _events(region)
    assert event.verb == "region.created"
    assert event.actor == admin_system
    assert event.before is None
    assert event.after is not None
    assert event.after["name"] == "新建街道"
    assert event.after["parent"] == _region(XIAONAN).pk


def test_region_upsert_renames_an_existing_region(admin_system: User) -> None:
    wenchang = _region(WENCHANG)
    earlier = len(_events(wenchang))
    region, outcome = services.region_upsert(
        actor=admin_system,
        code=WENCHANG,
        name="文昌新社区",
        level="community",
        parent_code=GUANGCHANG,
        is_synthetic=True,
    )
    assert outcome == "updated"
    assert region.pk == wenchang.pk
    assert _region(WENCHANG).name == "文昌新社区"
    events = _events(wenchang)[earlier:]
    assert [e.verb for e in events] == ["region.updated"]
    assert events[0].before is not None and events[0].after is not None
    assert (events[0].before["name"], events[0].after["name"]) == ("文昌社区", "文昌新社区")


def test_region_upsert_of_the_same_values_is_unchanged_and_writes_no_event(
    admin_system: User,
) -> None:
    counts = _writes_nothing()
    region, outcome = services.region_upsert(
        actor=admin_system, code=XIAONAN, name=" 孝南区 ", level="district", parent_code="420900"
    )
    assert outcome == "unchanged"
    assert region.name == "孝南区"
    assert _writes_nothing() == counts


def test_region_upsert_refuses_moving_a_code_to_another_parent(admin_system: User) -> None:
    counts = _writes_nothing()
    with pytest.raises(ServiceError) as caught:
        services.region_upsert(
            actor=admin_system,
            code=WENCHANG,
            name="文昌社区",
            level="community",
            parent_code="420902001000",
        )
    assert caught.value.field == "code"
    assert _region(WENCHANG).parent == _region(GUANGCHANG)
    assert _writes_nothing() == counts


MISFITS = [
    ("42090200500", "street", XIAONAN),  # eleven digits
    ("420902005000", "community", GUANGCHANG),  # a community does not end in 000
    ("420921005000", "street", XIAONAN),  # not under 孝南区's digits
    ("420902003009", "community", XIAONAN),  # a community's parent is a street
    ("420903", "district", "420000"),  # a district's parent is a city
]


def _upsert_refusal(actor: User, code: str, name: str, level: str, parent: str) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        services.region_upsert(actor=actor, code=code, name=name, level=level, parent_code=parent)
    return caught.value


def test_region_upsert_refuses_a_code_that_does_not_fit(admin_system: User) -> None:
    counts = _writes_nothing()
    fields = {
        code: _upsert_refusal(admin_system, code, "某地", level, parent).field
        for code, level, parent in MISFITS
    }
    assert fields == {code: "code" for code, _, _ in MISFITS}
    assert _writes_nothing() == counts


def test_region_upsert_refuses_an_unknown_parent(admin_system: User) -> None:
    with pytest.raises(ServiceError) as caught:
        services.region_upsert(
            actor=admin_system,
            code="420902009001",
            name="某社区",
            level="community",
            parent_code="420902009000",
        )
    assert caught.value.field == "parent"
    assert not Region.objects.filter(code="420902009001").exists()


def test_region_upsert_refuses_an_empty_or_overlong_name(admin_system: User) -> None:
    for name in ["", "   ", "名" * 101]:
        error = _upsert_refusal(admin_system, NEW_STREET, name, "street", XIAONAN)
        assert error.field == "name", name
    assert not Region.objects.filter(code=NEW_STREET).exists()


@pytest.mark.parametrize("persona", ["admin_security", "supervisor_city", "coordinator_wenchang"])
def test_only_the_system_administrator_changes_regions(
    demo_city: dict[str, int], request: pytest.FixtureRequest, persona: str
) -> None:
    actor = request.getfixturevalue(persona)
    counts = _writes_nothing()
    with pytest.raises(NotAllowed):
        services.region_upsert(
            actor=actor,
            code=NEW_STREET,
            name="新建街道",
            level="street",
            parent_code=XIAONAN,
        )
    assert _writes_nothing() == counts


def test_region_with_active_children_cannot_be_retired(admin_system: User) -> None:
    counts = _writes_nothing()
    with pytest.raises(ServiceError):
        services.region_set_active(actor=admin_system, region=_region(GUANGCHANG), active=False)
    assert _region(GUANGCHANG).is_active
    assert _writes_nothing() == counts


def test_retiring_a_leaf_keeps_it_and_is_recorded(admin_system: User) -> None:
    qiankun = _region(QIANKUN)
    earlier = len(_events(qiankun))
    services.region_set_active(actor=admin_system, region=qiankun, active=False)
    assert _region(QIANKUN).is_active is False
    [event] = _events(qiankun)[earlier:]
    assert event.verb == "region.retired"
    assert event.before is not None and event.after is not None
    assert (event.before["is_active"], event.after["is_active"]) == (True, False)


def test_region_can_be_retired_once_its_children_are(admin_system: User) -> None:
    street = _region("420902004000")
    services.region_set_active(actor=admin_system, region=_region("420902004001"), active=False)
    services.region_set_active(actor=admin_system, region=street, active=False)
    assert _region("420902004000").is_active is False


def test_area_create_refuses_a_community_outside_its_region(admin_system: User) -> None:
    counts = _writes_nothing()
    with pytest.raises(ServiceError) as caught:
        services.area_create(
            actor=admin_system,
            name="跨街道片区",
            region=_region(GUANGCHANG),
            communities=[_region(WENCHANG), _region("420902001001")],
        )
    assert caught.value.field == "communities"
    assert _writes_nothing() == counts


def test_area_create_refuses_a_region_that_is_not_a_community(admin_system: User) -> None:
    with pytest.raises(ServiceError):
        services.area_create(
            actor=admin_system,
            name="街道片区",
            region=_region(XIAONAN),
            communities=[_region(GUANGCHANG)],
        )
    assert not Area.objects.filter(name="街道片区").exists()


def test_area_create_records_the_area_with_its_communities(admin_system: User) -> None:
    area = services.area_create(
        actor=admin_system,
        name="文昌槐荫片区",
        region=_region(GUANGCHANG),
        communities=[_region(HUAIYIN), _region(WENCHANG)],
    )
    assert set(area.communities.values_list("code", flat=True)) == {WENCHANG, HUAIYIN}
    [event] = _events(area)
    assert event.verb == "area.created"
    assert event.after is not None
    assert event.after["communities"] == [WENCHANG, HUAIYIN]


def test_area_name_is_unique_within_its_region(admin_system: User) -> None:
    with pytest.raises(ServiceError) as caught:
        services.area_create(
            actor=admin_system, name="广场学区片区", region=_region(GUANGCHANG), communities=[]
        )
    assert caught.value.field == "name"


def test_a_community_has_one_community_sentinel(admin_system: User) -> None:
    counts = _writes_nothing()
    with pytest.raises(ServiceError) as caught:
        services.sentinel_create(
            actor=admin_system,
            kind=SentinelKind.COMMUNITY,
            name="文昌社区第二哨点",
            region=_region(WENCHANG),
        )
    assert caught.value.field == "region"
    assert _writes_nothing() == counts


def test_a_community_may_hold_several_school_sentinels(admin_system: User) -> None:
    sentinel = services.sentinel_create(
        actor=admin_system, kind=SentinelKind.SCHOOL, name="文昌小学", region=_region(WENCHANG)
    )
    [event] = _events(sentinel)
    assert event.verb == "sentinel.created"
    assert event.after is not None
    assert event.after["region"] == _region(WENCHANG).pk
    assert Sentinel.objects.filter(region__code=WENCHANG, kind=SentinelKind.SCHOOL).count() == 2


def test_a_sentinel_belongs_to_a_community(admin_system: User) -> None:
    with pytest.raises(ServiceError) as caught:
        services.sentinel_create(
            actor=admin_system,
            kind=SentinelKind.SCHOOL,
            name="街道学校",
            region=_region(GUANGCHANG),
        )
    assert caught.value.field == "region"
