"""Placement: by position in a community outline, else by division code, else by the address."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shapely.prepared import PreparedGeometry

from bihuan.core.geo import wgs84_to_gcj02
from bihuan.demo.data import GUANGCHANG, HUAIYIN, QIANKUN, WENCHANG
from bihuan.registry import placement
from bihuan.registry.models import Boundary
from bihuan.registry.tests.outlines import (
    BORDER,
    HUAIYIN_SQUARE,
    QIANKUN_SQUARE,
    WENCHANG_SQUARE,
    institution_at,
    outline,
    polygon,
    square,
)
from bihuan.territory.models import Area, Region

pytestmark = pytest.mark.django_db
_PREPARED = placement._prepared


@pytest.fixture(autouse=True)
def _fresh_outline_cache() -> Iterator[None]:
    # Prepared outlines are cached by id and time; rolled-back tests may reuse both on SQLite.
    _PREPARED.cache_clear()
    yield
    _PREPARED.cache_clear()


@pytest.fixture
def regions(demo_city: dict[str, int]) -> dict[str, Region]:
    codes = {"wenchang": WENCHANG, "huaiyin": HUAIYIN, "qiankun": QIANKUN, "street": GUANGCHANG}
    found = {r.code: r for r in Region.objects.filter(code__in=codes.values())}
    return {name: found[code] for name, code in codes.items()}


@pytest.fixture
def outlines(regions: dict[str, Region]) -> dict[str, Boundary]:
    return {
        "wenchang": outline(regions["wenchang"], polygon(WENCHANG_SQUARE)),
        "huaiyin": outline(regions["huaiyin"], polygon(HUAIYIN_SQUARE)),
    }


def test_point_inside_an_outline_is_placed_in_that_community_and_its_area(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    institution = institution_at("东门书法", regions["street"], 30.93, 113.93)

    assert institution.community == regions["huaiyin"]
    assert institution.region == regions["huaiyin"]
    assert institution.area == Area.objects.get(name="广场学区片区")


def test_position_outweighs_the_division_code_it_came_with(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    institution = institution_at("西门美术", regions["huaiyin"], 30.93, 113.91)

    assert institution.community == regions["wenchang"]
    assert institution.region == regions["wenchang"]


def test_point_on_a_shared_border_goes_to_the_community_with_the_lower_code(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    assert placement.community_at(30.93, BORDER) == regions["wenchang"]

    institution = institution_at("界线围棋", regions["huaiyin"], 30.93, BORDER)

    assert institution.community == regions["wenchang"]


def test_point_just_inside_the_border_is_placed_on_its_side(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    assert placement.community_at(30.93, BORDER - 0.000001) == regions["wenchang"]
    assert placement.community_at(30.93, BORDER + 0.000001) == regions["huaiyin"]


def test_point_outside_every_outline_falls_back_to_the_division_code(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    institution = institution_at("远郊舞蹈", regions["qiankun"], 31.5, 114.5)

    assert institution.community == regions["qiankun"]


def test_without_outline_or_community_code_a_community_named_in_the_address_decides(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    institution = institution_at(
        "乾坤编程", regions["street"], 31.5, 114.5, address="广场街道乾坤社区建设路8号"
    )

    assert institution.community == regions["qiankun"]


def test_address_is_used_when_there_is_no_position(regions: dict[str, Region]) -> None:
    institution = institution_at("槐荫口才", regions["street"], address="槐荫社区槐荫大道2号")

    assert institution.community == regions["huaiyin"]


def test_when_nothing_decides_the_institution_stays_at_its_street(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    institution = institution_at("无名机构", regions["street"], 31.5, 114.5, address="某路1号")

    assert institution.community is None
    assert institution.region == regions["street"]


def test_a_point_in_the_second_part_of_a_multipolygon_is_placed(
    regions: dict[str, Region],
) -> None:
    outline(
        regions["qiankun"],
        {
            "type": "MultiPolygon",
            "coordinates": [QIANKUN_SQUARE, square(113.96, 30.96, 113.98, 30.98)],
        },
    )

    institution = institution_at("飞地书画", regions["street"], 30.97, 113.97)

    assert institution.community == regions["qiankun"]


def test_a_hole_of_a_polygon_is_outside_it(regions: dict[str, Region]) -> None:
    ring = square(113.90, 30.92, 113.94, 30.96)[0]
    hole = square(113.91, 30.93, 113.93, 30.95)[0]
    outline(regions["qiankun"], {"type": "Polygon", "coordinates": [ring, hole]})

    assert placement.community_at(30.94, 113.92) is None
    assert placement.community_at(30.925, 113.92) == regions["qiankun"]


def test_gcj02_position_is_converted_to_wgs84_before_placing(regions: dict[str, Region]) -> None:
    # An outline of about 100 m around the true (WGS-84) position; GCJ-02 is ~500 m off here.
    lat, lng = 30.9300, 113.9300
    outline(
        regions["qiankun"], polygon(square(lng - 0.0005, lat - 0.0005, lng + 0.0005, lat + 0.0005))
    )
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)

    from_gaode = institution_at("高德定位", regions["street"], gcj_lat, gcj_lng, datum="gcj02")
    taken_as_gps = institution_at("误作GPS", regions["street"], gcj_lat, gcj_lng, datum="wgs84")

    assert from_gaode.community == regions["qiankun"]
    assert abs(float(from_gaode.latitude or 0) - lat) < 0.00001
    assert abs(float(from_gaode.longitude or 0) - lng) < 0.00001
    assert taken_as_gps.community is None


def test_only_outlines_whose_box_holds_the_point_are_tested(
    regions: dict[str, Region], outlines: dict[str, Boundary], monkeypatch: pytest.MonkeyPatch
) -> None:
    outline(regions["qiankun"], polygon(QIANKUN_SQUARE))
    tested: list[int] = []
    real = _PREPARED

    def spy(boundary_id: int, updated_at: str) -> PreparedGeometry:
        tested.append(boundary_id)
        return real(boundary_id, updated_at)

    monkeypatch.setattr(placement, "_prepared", spy)

    found = placement.community_at(30.93, 113.93)

    assert found == regions["huaiyin"]
    assert tested == [outlines["huaiyin"].pk]


def test_an_edited_outline_is_not_served_from_the_cache(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    assert placement.community_at(30.93, 113.93) == regions["huaiyin"]
    boundary = outlines["huaiyin"]
    boundary.geometry = polygon(square(113.95, 30.92, 113.97, 30.94))
    boundary.min_lng, boundary.max_lng = 113.90, 113.97  # keep the old box in the prefilter
    boundary.save()

    assert placement.community_at(30.93, 113.93) is None


def test_placing_again_without_change_reports_no_change(
    regions: dict[str, Region], outlines: dict[str, Boundary]
) -> None:
    institution = institution_at("东门书法", regions["street"], 30.93, 113.93)
    stamp = institution.updated_at

    assert placement.place_institution(institution) is False
    institution.refresh_from_db()
    assert institution.updated_at == stamp
