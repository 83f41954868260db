"""The dashboards in Debian's Chromium: charts draw, the map has markers, the big screen refreshes.

The demo registry, leads and screening round are loaded and one of 杨铁柱's visits is approved by
the coordinator, so every figure of the year has something to count. The city supervisor signs in
through the form and opens the bureau's dashboard, then the big screen at 1920×1080 with its
refresh lowered to a few seconds. Every request that would leave the live server is refused: the
pages must work on a closed network.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, Route, expect
from pytest_django.live_server_helper import LiveServer

from bihuan.accounts.models import User
from bihuan.demo.data import DEMO_PASSWORD
from bihuan.leads.demo import load_demo_leads
from bihuan.registry.demo import load_demo_registry
from bihuan.screening import review_services
from bihuan.screening.demo import load_demo_screening
from bihuan.screening.models import Round
from bihuan.screening.tests.factories import submitted_inspection

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
CHARTS = ("trend", "groups", "departments")
# Share of a chart's canvas pixels that are not transparent: axes, labels and lines at least.
INKED = """
(selector) => {
  const canvas = document.querySelector(selector + " canvas");
  if (!canvas) { return -1; }
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) { inked += 1; } }
  return inked / (pixels.length / 4);
}
"""


@pytest.fixture
def activity(live_db: None, demo_city: dict[str, int]) -> None:
    """The demo's records, committed, with one approved visit so every figure has something."""
    load_demo_registry()
    load_demo_leads()
    load_demo_screening()
    item = (
        Round.objects.get(region__code="420902003001")
        .items.filter(task__inspector__username="yangtiezhu")
        .order_by("position")
        .first()
    )
    assert item is not None
    inspection = submitted_inspection(item)
    review_services.inspection_approve(
        actor=User.objects.get(username="wenchang"), inspection=inspection
    )


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


def _charts_are_drawn(page: Page) -> None:
    expect(page.locator("#dashboard")).to_have_attribute("data-drawn", str(len(CHARTS)))
    for chart in CHARTS:
        inked = page.evaluate(INKED, f"[data-chart='{chart}']")
        assert inked > 0.005, (chart, inked)


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard_{name}.png"), full_page=True)


def test_the_bureaus_dashboard_draws_its_charts_and_map_offline(
    activity: None, page: Page, live_server: LiveServer
) -> None:
    refused = _offline(page, live_server)
    _sign_in(page, "supervisor")

    page.goto("/reports/dashboard/")

    expect(page.locator("[data-figure='leads']")).not_to_have_text("0")
    expect(page.locator("[data-figure='person_times']")).not_to_have_text("0")
    expect(page.locator("[data-figure='institutions']")).to_have_text("1")
    _charts_are_drawn(page)
    markers = page.locator("[data-map] path.dash-point")
    expect(markers.first).to_be_visible()
    expect(page.locator("[data-map] path.dash-lead").first).to_be_attached()
    assert int(page.locator("[data-map]").get_attribute("data-markers") or 0) > 0
    expect(page.locator("[data-map] .leaflet-tile")).to_have_count(0)
    assert refused == []
    _shot(page, "bureau")

    with page.expect_navigation():
        page.locator(".dash-card[data-metric='leads']").click()
    assert "/reports/records/leads/" in page.url


def test_the_big_screen_fills_1920_by_1080_and_refreshes_itself(
    activity: None, page: Page, live_server: LiveServer
) -> None:
    refused = _offline(page, live_server)
    page.set_viewport_size({"width": 1920, "height": 1080})
    _sign_in(page, "supervisor")
    fetches: list[str] = []
    page.on(
        "request",
        lambda request: (
            fetches.append(request.url) if "/dashboard/data.json" in request.url else None
        ),
    )

    page.goto("/reports/dashboard/big/?refresh=5")

    expect(page.locator("header.top")).to_have_count(0)
    expect(page.locator("#big-clock")).not_to_be_empty()
    expect(page.locator(".dash-card")).to_have_count(5)
    expect(page.locator("[data-figure='leads']")).not_to_have_text("0")
    _charts_are_drawn(page)
    expect(page.locator("[data-map] path.dash-point").first).to_be_visible()
    size = page.evaluate("() => [document.body.scrollWidth, document.body.scrollHeight]")
    assert size == [1920, 1080]
    # Two refreshes: the data is fetched again on the interval, not just once.
    expect(page.locator("#dashboard")).to_have_attribute("data-refreshes", "2", timeout=20_000)
    assert len(fetches) >= 2
    _charts_are_drawn(page)
    assert refused == []
    _shot(page, "big_screen")
