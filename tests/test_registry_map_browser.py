"""The registry map in Debian's Chromium: Leaflet from our static files, no tile server reached.

The outline is imported and the institutions created through the services, then a supervisor signs
in through the form and opens the map, on a desktop screen and on a phone.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, Route, expect
from pytest_django.live_server_helper import LiveServer

from bihuan.accounts.models import User
from bihuan.demo.data import DEMO_PASSWORD, GUANGCHANG, HUAIYIN, WENCHANG
from bihuan.registry import placement
from bihuan.registry.boundaries import boundaries_import
from bihuan.registry.models import Category, Status
from bihuan.registry.services import institution_create, institution_set_blacklist
from bihuan.registry.tests.outlines import WENCHANG_SQUARE, collection, feature, polygon
from bihuan.territory.models import Region

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
# (name, lat, lng, status, category): three inside 文昌社区's outline, one in 槐荫社区 by code.
INSTITUTIONS = [
    ("文昌书法培训", 30.930, 113.905, Status.REGISTERED, Category.ARTS),
    ("文昌英语辅导", 30.935, 113.915, Status.PENDING, Category.SUBJECT),
    ("文昌围棋", 30.925, 113.910, Status.SUSPENDED, Category.OTHER),
    ("槐荫体育", 30.930, 113.930, Status.REGISTERED, Category.SPORTS),
]

_PIXELS = """
async (data) => {
  const image = new Image();
  image.src = "data:image/png;base64," + data;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let unlikeFirst = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
    if (pixels[i] !== pixels[0] || pixels[i + 1] !== pixels[1] || pixels[i + 2] !== pixels[2]) {
      unlikeFirst += 1;
    }
  }
  return {colours: colours.size, unlikeFirst: unlikeFirst / (pixels.length / 4)};
}
"""


@pytest.fixture
def map_city(live_db: None, demo_city: dict[str, int]) -> Iterator[int]:
    """One outline and four institutions, committed before the browser starts."""
    placement._prepared.cache_clear()
    regions = {r.code: r for r in Region.objects.filter(code__in=[GUANGCHANG, HUAIYIN])}
    boundaries_import(
        actor=User.objects.get(username="admin"),
        data=collection(feature(WENCHANG, polygon(WENCHANG_SQUARE))),
        filename="wenchang.geojson",
    )
    for name, lat, lng, status, category in INSTITUTIONS:
        institution = institution_create(
            actor=None,
            name=name,
            region=regions[HUAIYIN if name.startswith("槐荫") else GUANGCHANG],
            source="manual",
            latitude=lat,
            longitude=lng,
            datum="wgs84",
            status=status,
            category=category,
        )
    institution_set_blacklist(
        actor=None, institution=institution, blacklisted=True, reason="无证办学"
    )
    yield len(INSTITUTIONS)
    placement._prepared.cache_clear()


def _offline(page: Page, live_server: LiveServer) -> list[str]:
    """Refuse every request that leaves the live server; returns the list of those refused."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return refused


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login/")
    form = page.locator("main form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def test_supervisor_sees_the_outline_and_every_institution_without_any_tile_server(
    map_city: int, page: Page, live_server: LiveServer
) -> None:
    refused = _offline(page, live_server)
    _sign_in(page, "supervisor")

    page.goto("/registry/map/")

    expect(page.locator("#registry-map path.leaflet-interactive")).to_have_count(map_city)
    expect(page.locator("#registry-map path.map-outline")).to_have_count(1)
    expect(page.locator("#registry-map path.map-blacklisted")).to_have_count(1)
    expect(page.locator("#registry-map path.map-status-pending")).to_have_count(1)
    expect(page.locator("#registry-map .leaflet-tile")).to_have_count(0)
    expect(page.locator("#registry-map-status")).to_contain_text(str(map_city))
    assert page.evaluate("() => typeof window.L") == "object"
    assert refused == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "registry-map.png"
    page.locator("main").screenshot(path=str(target))
    png = target.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    summary = page.evaluate(_PIXELS, base64.b64encode(png).decode("ascii"))
    assert summary["colours"] > 50, summary
    assert summary["unlikeFirst"] > 0.05, summary


def test_on_a_phone_the_map_fills_the_width_and_a_tap_opens_the_institution(
    map_city: int, browser: Browser, live_server: LiveServer
) -> None:
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    refused = _offline(page, live_server)
    _sign_in(page, "wenchang")

    page.goto("/registry/map/")

    markers = page.locator("#registry-map path.leaflet-interactive")
    expect(markers).to_have_count(map_city - 1)  # the coordinator sees 文昌社区 only
    box = page.locator("#registry-map").bounding_box()
    assert box is not None
    assert box["width"] >= 389
    marker = page.locator("#registry-map path.map-status-pending")
    marker.tap()
    expect(page.locator(".leaflet-popup-content")).to_contain_text("文昌英语辅导")
    assert refused == []
    page.screenshot(path=str(SCREENSHOTS / "registry-map-phone.png"))
    context.close()
