"""The Content-Security-Policy holds in Chromium: the main pages of each area break none of it.

Every page is served with a policy that forbids inline scripts, inline handlers, ``style=``
attributes and ``eval``. Chromium reports each refusal as a ``securitypolicyviolation`` event and
a console message; both are collected from every page of the context, and any one fails the test.
The pages are used, not just opened: charts are drawn and hovered, the map is drawn, an htmx
filter swaps the list, the phone's checklist is shown.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from django.db import connections
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route, expect
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from bihuan.accounts.models import User
from bihuan.core.security import content_security_policy
from bihuan.demo.data import DEMO_PASSWORD, WENCHANG
from bihuan.leads.demo import load_demo_leads
from bihuan.leads.models import Lead
from bihuan.registry.demo import load_demo_registry
from bihuan.screening import review_services
from bihuan.screening.demo import load_demo_screening
from bihuan.screening.models import Round
from bihuan.screening.tests.factories import submitted_inspection

pytestmark = pytest.mark.browser

T = TypeVar("T")
TILES = "https://tiles.bihuan.test"
# Registered before any page script runs, so that a refusal during parsing is caught too.
LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation([
    event.documentURI, event.violatedDirective, event.blockedURI,
    event.sourceFile + ":" + event.lineNumber,
    (event.sample || "").slice(0, 80),
  ].join(" | "));
});
"""


def _in_django(call: Callable[[], T]) -> T:
    """Database work in a thread without the browser's event loop (Django refuses it there)."""

    def run() -> T:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 220, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def activity(live_db: None, demo_city: dict[str, int]) -> None:
    """The demo's records, committed, with one approved visit so every figure has something."""
    load_demo_registry()
    load_demo_leads()
    load_demo_screening()
    item = (
        Round.objects.get(region__code=WENCHANG)
        .items.filter(task__inspector__username="yangtiezhu")
        .order_by("position")
        .first()
    )
    assert item is not None
    review_services.inspection_approve(
        actor=User.objects.get(username="wenchang"), inspection=submitted_inspection(item)
    )


@contextmanager
def _watched(
    browser: Browser, live_server: LiveServer, *, phone: bool = False
) -> Iterator[tuple[Page, list[str]]]:
    """A fresh context whose every CSP refusal (event or console message) is collected."""
    options: dict[str, Any] = {
        "base_url": live_server.url,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "viewport": {"width": 1280, "height": 900},
    }
    if phone:
        options |= {
            "viewport": {"width": 390, "height": 844},
            "is_mobile": True,
            "has_touch": True,
            "device_scale_factor": 2,
        }
    context: BrowserContext = browser.new_context(**options)
    context.set_default_timeout(15_000)
    violations: list[str] = []

    def report(text: str) -> None:
        violations.append(text)

    context.expose_function("__cspViolation", report)
    context.add_init_script(LISTEN)

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"console: {page.url} {message.text[:160]}")

    def tiles(route: Route) -> None:
        route.fulfill(status=200, content_type="image/png", body=_png())

    context.route(f"{TILES}/**", tiles)
    page = context.new_page()
    page.on("console", console)
    try:
        yield page, violations
    finally:
        context.close()


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login/")
    form = page.locator("main form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def _open(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, policy
    page.wait_for_load_state("load")


def test_the_bureaus_pages_break_no_rule_of_the_policy(
    activity: None, browser: Browser, live_server: LiveServer, settings: SettingsWrapper
) -> None:
    settings.MAP_TILE_URL = TILES + "/{z}/{x}/{y}.png"
    settings.CONTENT_SECURITY_POLICY = content_security_policy(map_tile_url=settings.MAP_TILE_URL)
    lead = _in_django(lambda: Lead.objects.order_by("pk").first())
    assert lead is not None
    with _watched(browser, live_server) as (page, violations):
        _open(page, "/login/")
        _sign_in(page, "supervisor")
        _open(page, "/")

        _open(page, "/leads/")
        search = page.locator("form.filters input[name=q]")
        with page.expect_response(lambda r: "/leads/?" in r.url):
            search.fill("培训")
        _open(page, f"/leads/{lead.pk}/")

        _open(page, "/reports/dashboard/")
        expect(page.locator("#dashboard")).to_have_attribute("data-drawn", "3")
        # ECharts builds its tooltip as HTML: hovering makes it draw one.
        page.locator("[data-chart='trend'] canvas").first.hover(position={"x": 200, "y": 120})
        page.wait_for_timeout(300)

        _open(page, "/registry/map/")
        expect(page.locator("#registry-map path.leaflet-interactive").first).to_be_attached()
        expect(page.locator("#registry-map .leaflet-tile-loaded").first).to_be_attached()

        _open(page, "/reports/")
        _open(page, "/reports/report/")
        # The language picker submits itself (a listener in bihuan.js, not an inline handler).
        with page.expect_navigation():
            page.locator("header.top select[name=language]").select_option("en")
        assert page.locator("html").get_attribute("lang") == "en"

        _open(page, "/api/v1/docs/")
        expect(page.locator(".swagger-ui .info").first).to_be_visible()

    assert violations == [], "\n".join(violations)


def test_the_inspectors_phone_and_the_public_tip_page_break_no_rule(
    activity: None, browser: Browser, live_server: LiveServer
) -> None:
    item = _in_django(
        lambda: (
            Round.objects.get(region__code=WENCHANG)
            .items.filter(task__inspector__username="yangtiezhu", inspection__isnull=True)
            .order_by("position")
            .first()
        )
    )
    assert item is not None
    with _watched(browser, live_server, phone=True) as (page, violations):
        _open(page, "/tip/")
        expect(page.locator("label.tip-card").first).to_be_visible()

        _sign_in(page, "yangtiezhu")
        _open(page, "/screening/")
        _open(page, f"/screening/items/{item.pk}/inspect/")
        expect(page.locator("form").first).to_be_visible()

    assert violations == [], "\n".join(violations)
