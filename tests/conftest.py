"""Fixtures for the cross-app tests: a live server on a committed database, and headless Chromium.

Playwright's sync API keeps an asyncio loop running in the test's thread while it is started, and
Django refuses database calls from a thread with a running loop. So the browser is started per
test, after the database fixtures have done their work, and stopped before they tear down.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from pytest_django.live_server_helper import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _live_server_helper(request: pytest.FixtureRequest) -> Iterator[None]:
    """pytest-django's helper of the same name, but committing through ``live_db``.

    The plugin's helper is autouse and asks for ``transactional_db`` before any fixture of the
    test, so the flush came after ``live_db`` had put the audit triggers back, and was refused.
    Asking for ``live_db`` first gives the teardown live_db intends: lift, flush, restore.
    """
    if "live_server" not in request.fixturenames:
        yield
        return
    if "live_db" not in request.fixturenames:
        # Requested late, live_db could no longer make pytest-django serialize the database.
        pytest.fail("A test that uses live_server must also ask for live_db.")
    request.getfixturevalue("live_db")
    server: LiveServer = request.getfixturevalue("live_server")
    server._live_server_modified_settings.enable()
    yield
    server._live_server_modified_settings.disable()


@pytest.fixture
def browser(live_db: None, live_server: LiveServer, demo_city: dict[str, int]) -> Iterator[Browser]:
    """Debian's Chromium, headless, started once the demo city is committed.

    A missing browser fails the test: a skipped browser test would hide a broken front end.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install it with `apt-get install chromium fonts-noto-cjk` "
            "(./run test does so on a fresh machine)."
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A signed-out tab with a fresh profile, in Chinese, on the live server."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()
