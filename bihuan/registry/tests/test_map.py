"""The registry map: its GeoJSON is scoped to the user's place and follows the list's filters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts.models import User
from bihuan.demo.data import GUANGCHANG, HUAIYIN, WENCHANG
from bihuan.registry import placement
from bihuan.registry.models import Category, Institution, Status
from bihuan.registry.services import institution_set_blacklist
from bihuan.registry.tests.outlines import (
    HUAIYIN_SQUARE,
    WENCHANG_SQUARE,
    institution_at,
    outline,
    polygon,
)
from bihuan.territory.models import Area, Region

pytestmark = pytest.mark.django_db
_PREPARED = placement._prepared
DATA = "/registry/map/data.json"
POINT_PROPERTIES = {
    "kind",
    "id",
    "name",
    "status",
    "status_label",
    "category",
    "category_label",
    "blacklisted",
    "url",
}


@pytest.fixture(autouse=True)
def _fresh_outline_cache() -> Iterator[None]:
    _PREPARED.cache_clear()
    yield
    _PREPARED.cache_clear()


@pytest.fixture
def places(demo_city: dict[str, int]) -> dict[str, Region]:
    found = {r.code: r for r in Region.objects.filter(code__in=[WENCHANG, HUAIYIN, GUANGCHANG])}
    outline(found[WENCHANG], polygon(WENCHANG_SQUARE))
    outline(found[HUAIYIN], polygon(HUAIYIN_SQUARE))
    return {"wenchang": found[WENCHANG], "huaiyin": found[HUAIYIN], "street": found[GUANGCHANG]}


@pytest.fixture
def registry(places: dict[str, Region]) -> dict[str, Institution]:
    street = places["street"]
    east = institution_at("槐荫体育", street, 30.93, 113.93, category=Category.SPORTS)
    return {
        "calligraphy": institution_at(
            "文昌书法", street, 30.93, 113.905, category=Category.SUBJECT
        ),
        "art": institution_at(
            "文昌美术", street, 30.935, 113.91, category=Category.ARTS, status=Status.PENDING
        ),
        "hidden": institution_at("文昌无坐标", places["wenchang"]),
        "east": institution_set_blacklist(
            actor=None, institution=east, blacklisted=True, reason="无证办学"
        ),
    }


def _data(client: Client, user: User, query: str = "") -> dict[str, Any]:
    client.force_login(user)
    response = client.get(f"{DATA}?{query}" if query else DATA)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    result: dict[str, Any] = response.json()
    return result


def _names(data: dict[str, Any]) -> set[str]:
    return {
        f["properties"]["name"]
        for f in data["features"]
        if f["properties"]["kind"] == "institution"
    }


def _outlines(data: dict[str, Any]) -> list[str]:
    return [
        f["properties"]["code"] for f in data["features"] if f["properties"]["kind"] == "community"
    ]


def test_data_is_a_feature_collection_of_points_and_community_outlines(
    client: Client, supervisor_city: User, registry: dict[str, Institution]
) -> None:
    data = _data(client, supervisor_city)

    assert data["type"] == "FeatureCollection"
    assert data["counts"] == {"points": 3, "without_position": 1, "outlines": 2}
    assert data["truncated"] is False
    outlines = [f for f in data["features"] if f["properties"]["kind"] == "community"]
    assert outlines[0] == {
        "type": "Feature",
        "geometry": polygon(WENCHANG_SQUARE),
        "properties": {"kind": "community", "code": WENCHANG, "name": "文昌社区"},
    }
    east = next(f for f in data["features"] if f["properties"]["name"] == "槐荫体育")
    assert east["geometry"] == {"type": "Point", "coordinates": [113.93, 30.93]}
    assert set(east["properties"]) == POINT_PROPERTIES
    assert east["properties"]["id"] == registry["east"].pk
    assert east["properties"]["status"] == "registered"
    assert east["properties"]["category"] == "sports"
    assert east["properties"]["blacklisted"] is True


def test_outlines_come_before_points_so_points_draw_on_top(
    client: Client, supervisor_city: User, registry: dict[str, Institution]
) -> None:
    kinds = [f["properties"]["kind"] for f in _data(client, supervisor_city)["features"]]

    assert kinds == ["community", "community", "institution", "institution", "institution"]


def test_a_coordinator_of_wenchang_gets_only_its_institutions_and_outline(
    client: Client, coordinator_wenchang: User, registry: dict[str, Institution]
) -> None:
    data = _data(client, coordinator_wenchang)

    assert _names(data) == {"文昌书法", "文昌美术"}
    assert _outlines(data) == [WENCHANG]
    assert data["counts"]["without_position"] == 1


def test_a_coordinator_of_huaiyin_gets_only_huaiyin(
    client: Client, coordinator_huaiyin: User, registry: dict[str, Institution]
) -> None:
    data = _data(client, coordinator_huaiyin)

    assert _names(data) == {"槐荫体育"}
    assert _outlines(data) == [HUAIYIN]


def test_a_filter_cannot_reach_outside_the_users_place(
    client: Client, coordinator_wenchang: User, registry: dict[str, Institution]
) -> None:
    data = _data(client, coordinator_wenchang, f"region={HUAIYIN}")

    assert _names(data) == set()
    assert _outlines(data) == []


def test_merged_away_records_are_not_on_the_map(
    client: Client, supervisor_city: User, registry: dict[str, Institution]
) -> None:
    Institution.objects.filter(pk=registry["art"].pk).update(merged_into=registry["calligraphy"])

    assert _names(_data(client, supervisor_city)) == {"文昌书法", "槐荫体育"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=pending", {"文昌美术"}),
        ("category=subject", {"文昌书法"}),
        ("blacklisted=1", {"槐荫体育"}),
        ("blacklisted=0", {"文昌书法", "文昌美术"}),
        ("q=美术", {"文昌美术"}),
        ("q=書法", {"文昌书法"}),
        (f"region={WENCHANG}", {"文昌书法", "文昌美术"}),
        (f"region={GUANGCHANG}", {"文昌书法", "文昌美术", "槐荫体育"}),
        ("region=420921", set()),
        ("region=420902003999", set()),
        ("region=420902003", {"文昌书法", "文昌美术", "槐荫体育"}),
        ("status=pending&category=subject", set()),
        ("status=nonsense&category=&blacklisted=maybe", {"文昌书法", "文昌美术", "槐荫体育"}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_the_list_filters_apply(
    client: Client,
    supervisor_city: User,
    registry: dict[str, Institution],
    query: str,
    expected: set[str],
) -> None:
    assert _names(_data(client, supervisor_city, query)) == expected


def test_the_area_filter_keeps_the_areas_institutions_and_outlines(
    client: Client, supervisor_city: User, registry: dict[str, Institution]
) -> None:
    area = Area.objects.get(name="广场学区片区")

    data = _data(client, supervisor_city, f"area={area.pk}")

    assert _names(data) == {"文昌书法", "文昌美术", "槐荫体育"}
    assert _outlines(data) == [WENCHANG, HUAIYIN]
    assert _names(_data(client, supervisor_city, f"area={area.pk + 999}")) == set()


def test_the_region_filter_narrows_the_outlines(
    client: Client, supervisor_city: User, registry: dict[str, Institution]
) -> None:
    assert _outlines(_data(client, supervisor_city, f"region={HUAIYIN}")) == [HUAIYIN]


@pytest.mark.parametrize("persona", ["auditor", "security"])
def test_users_who_may_not_read_the_registry_get_not_found(
    client: Client, registry: dict[str, Institution], persona: str
) -> None:
    client.force_login(User.objects.get(username=persona))

    assert client.get(DATA).status_code == 404
    assert client.get("/registry/map/").status_code == 404


def test_anonymous_users_are_sent_to_sign_in(
    client: Client, registry: dict[str, Institution]
) -> None:
    response = client.get(DATA)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_data_costs_the_same_queries_for_more_institutions(
    client: Client,
    supervisor_city: User,
    registry: dict[str, Institution],
    places: dict[str, Region],
) -> None:
    client.force_login(supervisor_city)
    client.get(DATA)
    with CaptureQueriesContext(connection) as few:
        client.get(DATA)
    for n in range(5):
        institution_at(f"新增机构{n}", places["street"], 30.925 + n * 0.001, 113.91)
    with CaptureQueriesContext(connection) as many:
        response = client.get(DATA)

    assert response.json()["counts"]["points"] == 8
    assert len(many) == len(few)


def test_the_page_hands_the_filtered_data_url_to_the_script_and_no_tiles_by_default(
    client: Client, supervisor_city: User, registry: dict[str, Institution]
) -> None:
    client.force_login(supervisor_city)

    page = client.get("/registry/map/?status=pending&q=美术").content.decode()

    assert 'data-url="/registry/map/data.json?status=pending&amp;q=%E7%BE%8E%E6%9C%AF"' in page
    assert 'href="/registry/institutions/?status=pending&amp;q=%E7%BE%8E%E6%9C%AF"' in page
    assert 'data-tile-url=""' in page
    assert "/static/vendor/leaflet/leaflet.js" in page
    assert "/static/js/registry-map.js" in page
    assert "<script>" not in page


def test_a_configured_tile_url_reaches_the_page(
    client: Client,
    supervisor_city: User,
    registry: dict[str, Institution],
    settings: SettingsWrapper,
) -> None:
    settings.MAP_TILE_URL = "https://tiles.intranet.local/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "市测绘院"
    client.force_login(supervisor_city)

    page = client.get("/registry/map/").content.decode()

    assert 'data-tile-url="https://tiles.intranet.local/{z}/{x}/{y}.png"' in page
    assert 'data-tile-attribution="市测绘院"' in page
