"""The real front end in Debian's Chromium: sign-in, scope by place, htmx from our static files.

Each test drives the live server through the pages a person uses, in Chinese, on the demo city.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import translation
from playwright.sync_api import Page, Request, expect
from pytest_django.live_server_helper import LiveServer

from bihuan.demo.data import DEMO_PASSWORD, HUAIYIN, WENCHANG, XIAOGAN

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

# Decodes a PNG with the browser's own decoder and summarises its pixels.
_PNG_SUMMARY = """
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
  return {
    width: canvas.width,
    height: canvas.height,
    colours: colours.size,
    unlikeFirst: unlikeFirst / (pixels.length / 4),
  };
}
"""

# Draws characters in the page's own font; a missing CJK font draws every one as the same box.
_GLYPHS = """
(characters) => {
  const family = getComputedStyle(document.body).fontFamily;
  return characters.map((character) => {
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 64;
    const context = canvas.getContext("2d");
    context.font = "48px " + family;
    context.fillText(character, 4, 52);
    return canvas.toDataURL();
  });
}
"""


def _sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login/")
    form = page.locator("main form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def _in_chinese(message: str, **values: Any) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(message) % values


def test_coordinator_signs_in_and_sees_only_their_own_community(
    page: Page, live_server: LiveServer
) -> None:
    _sign_in(page, "wenchang")
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("header .username")).to_have_text("赵丽")
    expect(page.locator("main")).to_contain_text("文昌社区")
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    own = page.goto(f"/territory/regions/{WENCHANG}/")
    assert own is not None
    assert own.status == 200
    expect(page.locator("main h1")).to_contain_text("文昌社区")

    other = page.goto(f"/territory/regions/{HUAIYIN}/")
    assert other is not None
    assert other.status == 404
    assert "槐荫社区" not in page.content()
    expect(page.locator("main h1")).to_have_text(_in_chinese("Not found"))


def test_region_tree_expands_with_htmx_served_by_the_site_itself(
    page: Page, live_server: LiveServer
) -> None:
    requested: list[Request] = []
    page.on("request", lambda request: requested.append(request))
    _sign_in(page, "supervisor")
    page.goto("/territory/regions/")
    htmx_src = page.locator("script[src*=htmx]").get_attribute("src")
    assert htmx_src is not None
    assert htmx_src.startswith(settings.STATIC_URL)
    assert page.evaluate("() => typeof window.htmx") == "object"
    city = page.locator("ul.tree > li").filter(has=page.locator(f'a[href$="/{XIAOGAN}/"]'))
    expect(city.locator(":scope > .sub")).to_be_empty()

    city.locator("button.toggle").click()

    expect(city.locator(":scope > .sub")).to_contain_text("孝南区")
    expect(city.locator(":scope > .sub")).to_contain_text("汉川市")
    partials = [r for r in requested if r.url.endswith(f"/{XIAOGAN}/children/")]
    assert len(partials) == 1
    assert partials[0].headers.get("hx-request") == "true"
    assert {urlsplit(r.url).netloc for r in requested} == {urlsplit(live_server.url).netloc}


def test_five_wrong_passwords_lock_the_account_against_the_right_one(page: Page) -> None:
    for _attempt in range(settings.LOCKOUT_THRESHOLD):
        _sign_in(page, "wenchang", "wrong-password-1")
    expect(page.locator("main .error")).to_have_text(
        _in_chinese(
            "Too many failed attempts: the account is locked for %(m)d minutes.",
            m=settings.LOCKOUT_MINUTES,
        )
    )

    _sign_in(page, "wenchang")

    assert urlsplit(page.url).path == "/login/"
    expect(page.locator("main .error")).to_have_text(
        _in_chinese(
            "This account is locked after repeated failures; try again in %(m)d minutes.",
            m=settings.LOCKOUT_MINUTES,
        )
    )
    expect(page.locator("header .username")).to_have_count(0)


def test_home_page_screenshot_shows_rendered_chinese(page: Page) -> None:
    _sign_in(page, "wenchang")
    expect(page.locator("main")).to_contain_text("文昌社区")
    glyphs = page.evaluate(_GLYPHS, ["文", "昌", " "])
    assert glyphs[0] != glyphs[2], "Chinese characters draw nothing"
    assert glyphs[0] != glyphs[1], "Chinese characters all draw as the same box: no CJK font"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "home-wenchang.png"

    page.screenshot(path=str(target), full_page=True)

    png = target.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    blank = page.context.new_page()
    summary = blank.evaluate(_PNG_SUMMARY, base64.b64encode(png).decode("ascii"))
    assert summary["width"] == 1280
    assert summary["colours"] > 50, summary
    assert summary["unlikeFirst"] > 0.05, summary
