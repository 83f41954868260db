"""Two-factor sign-in in Chromium: a supervisor is made to enrol, then signs in with a code.

The codes are computed from the key the page shows, as an authenticator app scanning it would.
"""

from __future__ import annotations

import time
from base64 import b32decode

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings as SettingsWrapper

from bihuan.accounts.models import User
from bihuan.demo.data import DEMO_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def real_supervisor(live_db: None, demo_city: dict[str, int], settings: SettingsWrapper) -> str:
    """The city supervisor as a real account, outside demo mode: two-factor sign-in is required."""
    settings.BIHUAN_DEMO = False
    User.objects.filter(username="supervisor").update(is_demo=False, must_change_password=False)
    return "supervisor"


def _code(key: str, steps_ahead: int) -> str:
    totp = TOTP(b32decode(key.replace(" ", "")))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def _submit(page: Page) -> None:
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()


def test_supervisor_enrols_then_signs_in_with_a_code(real_supervisor: str, page: Page) -> None:
    page.goto("/login/")
    page.locator("input[name=username]").fill(real_supervisor)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    _submit(page)
    # Sent to enrolment, and nothing else is reachable until it is done.
    expect(page).to_have_url("/account/two-factor/")
    page.goto("/leads/")
    expect(page).to_have_url("/account/two-factor/")
    expect(page.locator("figure.qr svg")).to_be_visible()
    key = page.locator("code[data-secret]").inner_text()
    page.locator("input[name=code]").fill(_code(key, 0))
    _submit(page)
    codes = page.locator("ol.recovery-codes li")
    expect(codes).to_have_count(10)
    page.locator("main a.button").click()
    expect(page).to_have_url("/")

    with page.expect_navigation():
        page.locator("form[action='/logout/'] button").click()
    page.locator("input[name=username]").fill(real_supervisor)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    _submit(page)
    expect(page).to_have_url("/login/code/")
    page.locator("input[name=code]").fill(_code(key, 1))
    _submit(page)
    expect(page).to_have_url("/")
    page.goto("/leads/")
    expect(page).to_have_url("/leads/")
