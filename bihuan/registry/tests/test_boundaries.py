"""Import of community outlines from GeoJSON and the re-placement of institutions it causes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import QuerySet
from django.test import Client
from django.utils import translation
from openpyxl import load_workbook
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed
from bihuan.core.geo import wgs84_to_gcj02
from bihuan.demo.data import GUANGCHANG, HUAIYIN, QIANKUN, WENCHANG, XIAONAN
from bihuan.registry import boundaries, placement
from bihuan.registry.boundaries import (
    BoundaryFileError,
    boundaries_import,
    boundary_import_apply,
)
from bihuan.registry.models import Boundary, BoundaryImport, Institution
from bihuan.registry.tests.outlines import (
    BORDER,
    EAST,
    HUAIYIN_SQUARE,
    LAT_N,
    LAT_S,
    QIANKUN_SQUARE,
    WENCHANG_SQUARE,
    WEST,
    collection,
    feature,
    institution_at,
    polygon,
    square,
)
from bihuan.territory.models import ImportStatus, Region

pytestmark = pytest.mark.django_db
_PREPARED = placement._prepared


@pytest.fixture(autouse=True)
def _fresh_outline_cache() -> Iterator[None]:
    _PREPARED.cache_clear()
    yield
    _PREPARED.cache_clear()


@pytest.fixture(autouse=True)
def _in_english() -> Iterator[None]:
    # Messages are compared with their English msgids.
    with translation.override("en"):
        yield


@pytest.fixture
def regions(demo_city: dict[str, int]) -> dict[str, Region]:
    codes = {"wenchang": WENCHANG, "huaiyin": HUAIYIN, "qiankun": QIANKUN, "street": GUANGCHANG}
    found = {r.code: r for r in Region.objects.filter(code__in=codes.values())}
    return {name: found[code] for name, code in codes.items()}


TWO_COMMUNITIES = collection(
    feature(WENCHANG, polygon(WENCHANG_SQUARE), name="文昌社区"),
    feature(HUAIYIN, polygon(HUAIYIN_SQUARE), name="槐荫社区"),
)


def _import(actor: User, data: bytes, datum: str = "") -> BoundaryImport:
    return boundaries_import(actor=actor, data=data, filename="outlines.geojson", datum=datum)


def _written() -> tuple[int, int, int]:
    return Boundary.objects.count(), BoundaryImport.objects.count(), Event.objects.count()


def _refusal(actor: User, data: bytes) -> BoundaryFileError:
    before = _written()
    with pytest.raises(BoundaryFileError) as caught:
        _import(actor, data)
    assert _written() == before
    return caught.value


def test_valid_file_creates_the_outlines_with_their_boxes(
    admin_system: User, regions: dict[str, Region]
) -> None:
    record = _import(admin_system, TWO_COMMUNITIES)

    assert record.status == ImportStatus.DONE
    assert {k: record.counts[k] for k in ("created", "updated", "unchanged", "features")} == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "features": 2,
    }
    wenchang = Boundary.objects.get(region=regions["wenchang"])
    assert (wenchang.min_lat, wenchang.max_lat, wenchang.min_lng, wenchang.max_lng) == (
        LAT_S,
        LAT_N,
        WEST,
        BORDER,
    )
    assert wenchang.geometry == polygon(WENCHANG_SQUARE)
    assert [f["action"] for f in record.features] == ["created", "created"]


def test_each_new_outline_and_the_import_are_audited(
    admin_system: User, regions: dict[str, Region]
) -> None:
    record = _import(admin_system, TWO_COMMUNITIES)

    created = Event.objects.filter(verb="boundary.created").order_by("object_repr")
    assert [e.object_repr for e in created] == ["文昌社区", "槐荫社区"]
    assert all(e.actor == admin_system for e in created)
    assert created[0].after is not None
    assert created[0].after["import"] == record.pk
    applied = Event.objects.get(verb="boundary_import.applied")
    assert applied.object_id == str(record.pk)


def test_a_gbk_file_with_chinese_property_names_is_read(
    admin_system: User, regions: dict[str, Region]
) -> None:
    data = collection(
        feature(WENCHANG, polygon(WENCHANG_SQUARE), key="区划代码", 名称="文昌社区"),
        encoding="gbk",
    )
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    record = _import(admin_system, data)

    assert record.encoding == "gbk"
    assert Boundary.objects.filter(region=regions["wenchang"]).exists()


def test_a_numeric_adcode_as_map_services_export_it_is_read(
    admin_system: User, regions: dict[str, Region]
) -> None:
    record = _import(
        admin_system, collection(feature(int(HUAIYIN), polygon(HUAIYIN_SQUARE), key="adcode"))
    )

    assert record.counts["created"] == 1
    assert Boundary.objects.filter(region=regions["huaiyin"]).exists()


def test_a_multipolygon_is_stored_whole(admin_system: User, regions: dict[str, Region]) -> None:
    parts = {
        "type": "MultiPolygon",
        "coordinates": [QIANKUN_SQUARE, square(114.0, 31.0, 114.01, 31.01)],
    }

    _import(admin_system, collection(feature(QIANKUN, parts)))

    boundary = Boundary.objects.get(region=regions["qiankun"])
    assert boundary.geometry["type"] == "MultiPolygon"
    assert boundary.max_lat == 31.01


@pytest.mark.parametrize(
    ("geometry", "expected"),
    [
        (polygon([[[113.9, 30.9], [113.91, 30.91], [113.92, 30.92], [113.9, 30.9]]]), "no area"),
        (polygon([[[113.9, 30.9], [113.91, 30.91], [113.9, 30.9]]]), "four positions"),
        (polygon([[[113.9, 30.9], [113.91, 30.9], [113.91, 30.91], [113.9, 30.91]]]), "not closed"),
        ({"type": "Point", "coordinates": [113.9, 30.9]}, "Polygon or MultiPolygon"),
        (None, "Polygon or MultiPolygon"),
        (polygon(square(30.9, 113.9, 30.92, 113.92)), "out of range"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[113.9, "30.9"], [113.91, 30.9], [113.91, 30.91], [113.9, 30.9]]],
            },
            "number",
        ),
    ],
    ids=[
        "no area",
        "three positions",
        "not closed",
        "point",
        "no geometry",
        "lat-lng swapped",
        "text",
    ],
)
def test_a_bad_outline_refuses_the_file_and_nothing_is_written(
    admin_system: User, regions: dict[str, Region], geometry: Any, expected: str
) -> None:
    refusal = _refusal(admin_system, collection(feature(WENCHANG, geometry)))

    assert len(refusal.errors) == 1
    assert refusal.errors[0].startswith(f"Feature 1 ({WENCHANG}): ")
    assert expected in refusal.errors[0]


def test_one_bad_feature_refuses_the_good_ones_too(
    admin_system: User, regions: dict[str, Region]
) -> None:
    bad = polygon([[[113.9, 30.9], [113.91, 30.91], [113.92, 30.92], [113.9, 30.9]]])
    data = collection(
        feature(WENCHANG, polygon(WENCHANG_SQUARE)),
        feature(HUAIYIN, bad),
        feature(QIANKUN, polygon(QIANKUN_SQUARE)),
    )

    refusal = _refusal(admin_system, data)

    assert [e.split(":")[0] for e in refusal.errors] == [f"Feature 2 ({HUAIYIN})"]
    assert "nothing was changed" in refusal.message


def test_a_self_intersecting_outline_is_repaired_and_the_repair_reported(
    admin_system: User, regions: dict[str, Region]
) -> None:
    bowtie = polygon(
        [[[113.90, 30.90], [113.92, 30.92], [113.92, 30.90], [113.90, 30.92], [113.90, 30.90]]]
    )

    record = _import(admin_system, collection(feature(QIANKUN, bowtie)))

    assert record.counts["repaired"] == 1
    assert "Self-intersection" in record.features[0]["repaired"]
    assert Boundary.objects.get(region=regions["qiankun"]).geometry["type"] == "MultiPolygon"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("420902003999", "no region has the code 420902003999"),
        (GUANGCHANG, "广场街道 is a street, not a community"),
        (XIAONAN, "not a community"),
        ("", "no division code"),
    ],
    ids=["unknown", "street", "district", "missing"],
)
def test_a_code_that_is_not_a_known_community_is_refused(
    admin_system: User, regions: dict[str, Region], code: str, expected: str
) -> None:
    refusal = _refusal(admin_system, collection(feature(code, polygon(WENCHANG_SQUARE))))

    assert expected in refusal.errors[0]


def test_a_community_outside_the_actors_territory_is_refused(
    admin_system: User, regions: dict[str, Region], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Administrators see the whole tree today; the check goes through the territory selector,
    # so a narrower scope there (a district's own administrator) narrows what may be imported.
    def huaiyin_only(user: object) -> QuerySet[Region]:
        return Region.objects.filter(code=HUAIYIN)

    monkeypatch.setattr(boundaries, "regions_visible_to", huaiyin_only)
    data = collection(
        feature(HUAIYIN, polygon(HUAIYIN_SQUARE)), feature(WENCHANG, polygon(WENCHANG_SQUARE))
    )

    refusal = _refusal(admin_system, data)

    assert refusal.errors == [
        f"Feature 2 ({WENCHANG}): 文昌社区 is not an active community you may manage."
    ]


def test_the_same_code_twice_is_refused(admin_system: User, regions: dict[str, Region]) -> None:
    data = collection(
        feature(WENCHANG, polygon(WENCHANG_SQUARE)), feature(WENCHANG, polygon(HUAIYIN_SQUARE))
    )

    refusal = _refusal(admin_system, data)

    assert "appears twice" in refusal.errors[0]


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe\x00garbage",
        b"{not json",
        b'{"type": "Feature"}',
        b'{"type": "FeatureCollection", "features": []}',
    ],
    ids=["binary", "not json", "not a collection", "empty"],
)
def test_a_file_that_is_not_a_feature_collection_is_refused(
    admin_system: User, regions: dict[str, Region], data: bytes
) -> None:
    refusal = _refusal(admin_system, data)

    assert refusal.message


def test_a_file_over_the_size_limit_is_refused(
    admin_system: User, regions: dict[str, Region], settings: SettingsWrapper
) -> None:
    settings.IMPORT_MAX_BYTES = 100

    refusal = _refusal(admin_system, TWO_COMMUNITIES)

    assert "larger than" in refusal.message


def test_gcj02_declared_in_the_file_converts_every_vertex(
    admin_system: User, regions: dict[str, Region]
) -> None:
    shifted = [[list(reversed(wgs84_to_gcj02(lat, lng))) for lng, lat in WENCHANG_SQUARE[0]]]

    _import(admin_system, collection(feature(WENCHANG, polygon(shifted)), datum="gcj02"))

    stored = Boundary.objects.get(region=regions["wenchang"]).geometry["coordinates"][0]
    for (lng, lat), (want_lng, want_lat) in zip(stored, WENCHANG_SQUARE[0], strict=True):
        assert abs(lng - want_lng) < 1e-6
        assert abs(lat - want_lat) < 1e-6


def test_the_datum_chosen_on_upload_overrides_the_file(
    admin_system: User, regions: dict[str, Region]
) -> None:
    shifted = [[list(reversed(wgs84_to_gcj02(lat, lng))) for lng, lat in WENCHANG_SQUARE[0]]]

    record = _import(admin_system, collection(feature(WENCHANG, polygon(shifted))), datum="gcj02")

    assert record.datum == "gcj02"
    stored = Boundary.objects.get(region=regions["wenchang"])
    assert abs(stored.min_lng - WEST) < 1e-6


def test_an_unknown_datum_is_refused(admin_system: User, regions: dict[str, Region]) -> None:
    refusal = _refusal(
        admin_system, collection(feature(WENCHANG, polygon(WENCHANG_SQUARE)), datum="bd09")
    )

    assert "bd09" in refusal.message


@pytest.mark.parametrize(
    "persona", ["supervisor", "wenchang", "security", "auditor"], ids=lambda p: p
)
def test_only_the_system_administrator_may_import_outlines(
    regions: dict[str, Region], persona: str
) -> None:
    actor = User.objects.get(username=persona)
    before = _written()

    with pytest.raises(NotAllowed):
        _import(actor, TWO_COMMUNITIES)

    assert _written() == before


# Re-placement -----------------------------------------------------------------------------------


@pytest.fixture
def placed(admin_system: User, regions: dict[str, Region]) -> dict[str, Institution]:
    """Outlines of 文昌 (west) and 槐荫 (east), and institutions placed by them."""
    _import(admin_system, TWO_COMMUNITIES)
    return {
        # Just west of the border: moves when 槐荫 takes the strip up to 113.915.
        "near_border": institution_at("近界书法", regions["street"], 30.93, 113.918),
        "deep_west": institution_at("西区美术", regions["street"], 30.93, 113.905),
        "east": institution_at("东区舞蹈", regions["street"], 30.93, 113.93),
        "no_position": institution_at("无坐标围棋", regions["wenchang"]),
        # Far from both outlines, in another community: not concerned at all.
        "elsewhere": institution_at("远处编程", regions["qiankun"], 30.80, 113.80),
    }


MOVED_BORDER = collection(
    feature(WENCHANG, polygon(square(WEST, LAT_S, 113.915, LAT_N))),
    feature(HUAIYIN, polygon(square(113.915, LAT_S, EAST, LAT_N))),
)


def test_the_institutions_start_in_the_communities_of_their_positions(
    placed: dict[str, Institution], regions: dict[str, Region]
) -> None:
    assert placed["near_border"].community == regions["wenchang"]
    assert placed["east"].community == regions["huaiyin"]
    assert placed["elsewhere"].community == regions["qiankun"]


def test_a_moved_border_re_places_exactly_the_institutions_it_concerns(
    admin_system: User,
    placed: dict[str, Institution],
    regions: dict[str, Region],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    real = boundaries.place_institution

    def spy(institution: Institution) -> bool:
        seen.append(institution.pk)
        return real(institution)

    monkeypatch.setattr(boundaries, "place_institution", spy)

    _import(admin_system, MOVED_BORDER)

    concerned = {placed[k].pk for k in ("near_border", "deep_west", "east", "no_position")}
    assert set(seen) == concerned
    assert len(seen) == len(concerned)


def test_the_report_lists_who_moved_from_where_to_where(
    admin_system: User, placed: dict[str, Institution], regions: dict[str, Region]
) -> None:
    record = _import(admin_system, MOVED_BORDER)

    mover = placed["near_border"]
    assert record.moved == [
        {
            "institution": mover.pk,
            "name": "近界书法",
            "from": WENCHANG,
            "from_name": "文昌社区",
            "to": HUAIYIN,
            "to_name": "槐荫社区",
        }
    ]
    assert record.counts["updated"] == 2
    assert record.counts["moved"] == 1
    mover.refresh_from_db()
    assert mover.community == regions["huaiyin"]
    assert mover.region == regions["huaiyin"]


def test_a_moved_institution_gets_a_placed_event_and_the_others_none(
    admin_system: User, placed: dict[str, Institution], regions: dict[str, Region]
) -> None:
    record = _import(admin_system, MOVED_BORDER)

    events = Event.objects.filter(verb="institution.placed")
    assert [e.object_id for e in events] == [str(placed["near_border"].pk)]
    event = events.get()
    assert event.actor == admin_system
    assert event.before is not None and event.after is not None
    assert event.before["community"] == regions["wenchang"].pk
    assert event.after["community"] == regions["huaiyin"].pk
    assert event.after["boundary_import"] == record.pk
    assert Event.objects.filter(verb="boundary.updated").count() == 2


def test_an_outline_that_did_not_change_writes_nothing_and_moves_nobody(
    admin_system: User, placed: dict[str, Institution]
) -> None:
    events_before = Event.objects.count()

    record = _import(admin_system, TWO_COMMUNITIES)

    assert record.counts["unchanged"] == 2
    assert record.moved == []
    new_verbs = set(Event.objects.order_by("pk")[events_before:].values_list("verb", flat=True))
    assert new_verbs == {"boundary_import.applied"}


def test_a_new_outline_takes_institutions_placed_by_division_code_or_address(
    admin_system: User, regions: dict[str, Region]
) -> None:
    # Placed at 乾坤 by its division code, since no outline held its position at creation.
    stray = institution_at("迷路书画", regions["qiankun"], 30.905, 113.95)

    record = _import(
        admin_system, collection(feature(HUAIYIN, polygon(square(113.94, 30.90, 113.96, 30.91))))
    )

    assert [(m["from"], m["to"]) for m in record.moved] == [(QIANKUN, HUAIYIN)]
    stray.refresh_from_db()
    assert stray.community == regions["huaiyin"]


def test_merged_away_records_are_not_re_placed(
    admin_system: User, placed: dict[str, Institution]
) -> None:
    merged = placed["near_border"]
    Institution.objects.filter(pk=merged.pk).update(merged_into=placed["deep_west"])

    record = _import(admin_system, MOVED_BORDER)

    assert record.moved == []


# Large files go to the worker -------------------------------------------------------------------


def test_a_large_file_is_queued_and_applied_by_the_worker(
    admin_system: User,
    placed: dict[str, Institution],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(boundaries, "SYNC_MAX_INSTITUTIONS", 1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = _import(admin_system, MOVED_BORDER)

    assert record.status == ImportStatus.QUEUED
    assert len(callbacks) == 1
    assert not Event.objects.filter(verb="boundary.updated").exists()

    done = boundary_import_apply(record.pk)

    assert done.status == ImportStatus.DONE
    assert [m["name"] for m in done.moved] == ["近界书法"]


def test_a_queued_file_that_no_longer_passes_the_check_fails_with_its_errors(
    admin_system: User,
    placed: dict[str, Institution],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(boundaries, "SYNC_MAX_INSTITUTIONS", 1)
    with django_capture_on_commit_callbacks(execute=False):
        record = _import(admin_system, MOVED_BORDER)
    Region.objects.filter(code=HUAIYIN).update(is_active=False)

    failed = boundary_import_apply(record.pk)

    assert failed.status == ImportStatus.FAILED
    assert "nothing was changed" in failed.counts["error"]
    assert "槐荫社区" in failed.counts["errors"][0]
    assert not Event.objects.filter(verb="boundary.updated").exists()


# Pages ------------------------------------------------------------------------------------------


def _upload(client: Client, data: bytes, name: str = "outlines.geojson", **extra: str) -> Any:
    return client.post(
        "/registry/boundaries/",
        {"file": SimpleUploadedFile(name, data, "application/geo+json"), **extra},
    )


def test_the_administrator_uploads_and_lands_on_the_report(
    client: Client, admin_system: User, placed: dict[str, Institution]
) -> None:
    client.force_login(admin_system)

    response = _upload(client, MOVED_BORDER)

    record = BoundaryImport.objects.latest("pk")
    assert response.status_code == 302
    assert response["Location"] == f"/registry/boundaries/{record.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "近界书法" in page
    assert WENCHANG in page and HUAIYIN in page


def test_the_upload_page_lists_every_error_of_a_refused_file(
    client: Client, admin_system: User, regions: dict[str, Region]
) -> None:
    client.force_login(admin_system)
    data = collection(feature("420902003999", polygon(WENCHANG_SQUARE)), feature(GUANGCHANG, None))

    response = _upload(client, data)

    assert response.status_code == 200
    page = response.content.decode()
    assert "420902003999" in page
    assert f"2 ({GUANGCHANG})" in page
    assert not BoundaryImport.objects.exists()


def test_the_upload_page_refuses_other_file_types(
    client: Client, admin_system: User, regions: dict[str, Region]
) -> None:
    client.force_login(admin_system)

    response = _upload(client, TWO_COMMUNITIES, name="outlines.csv")

    assert response.status_code == 200
    assert not BoundaryImport.objects.exists()


def test_the_report_exports_the_moves_as_xlsx(
    client: Client, admin_system: User, placed: dict[str, Institution]
) -> None:
    record = _import(admin_system, MOVED_BORDER)
    client.force_login(admin_system)

    response = client.get(f"/registry/boundaries/{record.pk}/?format=xlsx")

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1] == (
        placed["near_border"].pk,
        "近界书法",
        WENCHANG,
        "文昌社区",
        HUAIYIN,
        "槐荫社区",
    )


@pytest.mark.parametrize(
    "persona", ["supervisor", "wenchang", "security", "auditor"], ids=lambda p: p
)
def test_the_boundary_pages_are_not_found_for_anyone_but_the_system_administrator(
    client: Client, admin_system: User, regions: dict[str, Region], persona: str
) -> None:
    record = _import(admin_system, TWO_COMMUNITIES)
    client.force_login(User.objects.get(username=persona))
    before = _written()

    assert client.get("/registry/boundaries/").status_code == 404
    assert client.get(f"/registry/boundaries/{record.pk}/").status_code == 404
    assert client.get(f"/registry/boundaries/{record.pk}/?format=xlsx").status_code == 404
    assert _upload(client, MOVED_BORDER).status_code == 404
    assert _written() == before


def test_a_queued_import_page_polls_its_status_with_htmx(
    client: Client,
    admin_system: User,
    placed: dict[str, Institution],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(boundaries, "SYNC_MAX_INSTITUTIONS", 1)
    with django_capture_on_commit_callbacks(execute=False):
        record = _import(admin_system, MOVED_BORDER)
    client.force_login(admin_system)
    url = f"/registry/boundaries/{record.pk}/"

    assert 'hx-trigger="every 2s"' in client.get(url).content.decode()
    boundary_import_apply(record.pk)
    partial = client.get(url, headers={"HX-Request": "true"}).content.decode()

    assert partial.lstrip().startswith('<div id="boundary-import-status"')
    assert "hx-trigger" not in partial
