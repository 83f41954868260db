"""A parent sends a tip from a phone with a photo and follows it by its tracking code.

On a 390×844 touch screen, in Chinese, signed out: she picks "居民楼、酒店里上课", describes the
class, names the place, leaves her mobile number, attaches a photo and sends. The done page shows
the code; the status page says "received". The city bureau writes a public reply (through the
service) and she sees it on reload — and nothing internal.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from django.db import connections
from django.utils import translation
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Page, expect
from pytest_django.live_server_helper import LiveServer

from bihuan.accounts.models import User
from bihuan.intake.models import PublicTip
from bihuan.intake.services import public_reply_add
from bihuan.leads.workflow import LeadSource, LeadStatus

pytestmark = pytest.mark.browser

T = TypeVar("T")
REPLY = "您反映的情况已转交孝南区教育局核查，感谢您的监督。"


def _zh(message: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(message)


def _in_django(call: Callable[[], T]) -> T:
    """Database work in a thread without the browser's event loop (Django refuses it there)."""

    def run() -> T:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (180, 90, 40)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A signed-out phone in Chinese."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_parent_sends_a_tip_with_a_photo_and_follows_it(phone: Page) -> None:
    page = phone
    page.goto("/tip/")
    _fits(page)
    page.locator("label.tip-card", has_text="居民楼、酒店里上课").click()
    page.fill("#id_description", "楼上502每周六上午有十几个初中生上数学课，家长交了一年的钱。")
    page.fill("#id_place_name", "某小区5栋502")
    page.fill("#id_address", "孝南区文昌社区体育路8号")
    page.fill("#id_phone", "13812341234")
    page.set_input_files(
        "#id_photos", FilePayload(name="现场.jpg", mimeType="image/jpeg", buffer=_jpeg())
    )
    page.locator("button.tip-submit").click()

    code = page.locator("#tip-code").inner_text().strip()
    assert len(code) == 12
    _fits(page)
    tip = _in_django(lambda: PublicTip.objects.select_related("lead").get(tracking_code=code))
    assert tip.lead.source == LeadSource.TIP and tip.lead.status == LeadStatus.NEW
    assert _in_django(lambda: tip.lead.attachments.count()) == 1
    assert _in_django(lambda: sorted(tip.lead.violation_types.values_list("code", flat=True))) == [
        "B2"
    ]

    page.locator("#tip-status-link").click()
    expect(page.locator("#tip-status")).to_have_text(_zh("Received"))
    expect(page.get_by_text("138****1234")).to_be_visible()
    _fits(page)
    body = page.content()
    assert "13812341234" not in body and tip.lead.reference not in body

    def reply() -> None:
        public_reply_add(actor=User.objects.get(username="supervisor"), lead=tip.lead, text=REPLY)

    _in_django(reply)
    page.reload()
    expect(page.get_by_text(REPLY)).to_be_visible()

    # Following by typing the code, in lower case with a dash, lands on the same page.
    page.goto("/tip/status/")
    page.fill("#id_code", f"{code[:6].lower()}-{code[6:]}")
    page.locator("button[type=submit].primary").click()
    expect(page.get_by_text(REPLY)).to_be_visible()
