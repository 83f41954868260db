"""The closed loop in Debian's Chromium, through the pages of four roles, in Chinese.

A public tip is recorded with the service (the public intake page is a later issue); then the city
bureau triages and dispatches it, the market officer returns his order naming the police, the
bureau reassigns it, the clock urges and escalates, the police and education officers sign and
reply, and the bureau verifies, confirms and records the joint operation, records a refund on the
case, and closes the lead. ``check_loop`` must then find nothing wrong.

Playwright keeps an asyncio loop running in the test's thread, where Django refuses database
calls: what the test itself reads or writes mid-way runs in a short-lived thread of its own.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone, translation
from playwright.sync_api import Browser, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from bihuan.demo.data import DEMO_PASSWORD, WENCHANG
from bihuan.leads import clock, services
from bihuan.leads.models import Lead
from bihuan.leads.workflow import ClosureReason, LeadSource, LeadStatus
from bihuan.territory.models import Region

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
REPORTER_NAME = "李女士"
REPORTER_PHONE = "13912345678"
EDUCATION = "孝南区教育局"  # short names, as the bureau's pages show them
MARKET = "孝南区市场监管局"
POLICE = "市公安局"
POLICE_FULL = "孝感市公安局"  # the name a department's return form lists

T = TypeVar("T")


def _zh(message: str, **values: Any) -> str:
    """A UI string as the Chinese catalogue renders it."""
    with translation.override("zh-hans"):
        text = translation.gettext(message)
    return text % values if values else text


def _in_django(call: Callable[[], T]) -> T:
    """Run database work in a thread without the browser's event loop, then close its connection."""

    def run() -> T:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def tip(live_db: None, demo_city: dict[str, int]) -> Lead:
    """A parent's tip about a one-on-one class at home, committed before the browser starts."""
    return services.lead_create(
        actor=None,
        source=LeadSource.TIP,
        region=Region.objects.get(code=WENCHANG),
        place_name="文昌小区5栋2单元301室",
        description="有家长反映，文昌小区5栋2单元301室有人在家中开办一对一数学补习，每周末上课。",
        reporter_name=REPORTER_NAME,
        reporter_phone=REPORTER_PHONE,
    )


@contextmanager
def _signed_in(browser: Browser, live_server: LiveServer, username: str) -> Iterator[Page]:
    """A fresh profile in Chinese, signed in through the real login page."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto("/login/")
        form = page.locator("main form")
        form.locator("input[name=username]").fill(username)
        form.locator("input[name=password]").fill(DEMO_PASSWORD)
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        expect(page.locator("header .username")).to_have_count(1)
        yield page
    finally:
        context.close()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"loop_{name}.png"), full_page=True)


def _flash(page: Page, panel: str, message: str) -> None:
    """Wait for an htmx answer: the panel swapped in with the service's success message."""
    expect(page.locator(f"{panel} .flash.success")).to_contain_text(_zh(message))


def _row_of(rows: Locator, department: str) -> Locator:
    """The row whose first cell names the department (other cells may name others, as reasons)."""
    return rows.filter(has=rows.page.locator("td:first-child", has_text=department))


def _open_order(page: Page, reference: str) -> None:
    """From the inbox, open the order of the lead (the inbox opens on orders to sign)."""
    page.goto("/leads/orders/")
    expect(page.locator("header nav.menu")).to_contain_text(_zh("Work orders"))
    page.get_by_role("link", name=reference, exact=True).click()
    expect(page.locator("#order-panel h1")).to_contain_text(reference)


def _sign_and_reply(page: Page, reference: str, department: str, reply: str) -> None:
    _open_order(page, reference)
    expect(page.locator("#order-panel h1")).to_contain_text(department)
    page.get_by_role("button", name=_zh("Sign for it (签收)")).click()
    _flash(page, "#order-panel", "Signed for; the reply deadline is running.")
    page.locator("textarea[name=reply-reply]").fill(reply)
    page.get_by_role("button", name=_zh("Send the reply")).click()
    _flash(page, "#order-panel", "Reply sent to the bureau.")
    expect(page.locator("#order-panel h1 small")).to_contain_text(_zh("replied"))


def test_a_tip_goes_round_the_loop_through_four_roles(
    tip: Lead, browser: Browser, live_server: LiveServer
) -> None:
    reference = tip.reference
    lead_url = f"/leads/{tip.pk}/"

    # The city bureau: the tip waits in the triage queue; accept it as B3 and dispatch it.
    with _signed_in(browser, live_server, "supervisor") as page:
        page.goto("/leads/")
        expect(page.locator("header nav.menu")).to_contain_text(_zh("Leads"))
        row = page.locator("#results tbody tr").filter(has_text=reference)
        expect(row).to_contain_text("文昌小区5栋2单元301室")
        expect(row).to_contain_text(_zh("public tip"))
        _shot(page, "1_supervisor_queue")
        row.get_by_role("link", name=reference).click()
        expect(page.locator("#lead-panel h1")).to_contain_text(reference)
        # The bureau may see who reported, with the phone masked.
        expect(page.locator("#lead-panel")).to_contain_text(REPORTER_NAME)
        expect(page.locator("#lead-panel")).not_to_contain_text(REPORTER_PHONE)

        accept = page.locator("form[action$='/do/accept/']")
        accept.get_by_role("checkbox", name=re.compile(r"^B3\b")).check()
        accept.get_by_role("button", name=_zh("Accept"), exact=True).click()
        _flash(page, "#lead-panel", "Lead accepted.")

        preview = page.locator("form[action$='/do/dispatch/']").locator("xpath=..")
        lead_row = _row_of(preview.locator("tbody tr"), EDUCATION)
        assist_row = _row_of(preview.locator("tbody tr"), MARKET)
        expect(lead_row).to_contain_text(_zh("lead department (主办)"))
        expect(assist_row).to_contain_text(_zh("assisting department (协办)"))
        _shot(page, "2_supervisor_dispatch_preview")
        page.get_by_role("button", name=_zh("Confirm and dispatch")).click()
        _flash(page, "#lead-panel", "Lead dispatched to the departments.")
        orders = page.locator("#lead-orders tbody tr")
        expect(orders).to_have_count(2)
        expect(_row_of(orders, EDUCATION)).to_contain_text(_zh("awaiting signature"))
        expect(_row_of(orders, MARKET)).to_contain_text(_zh("awaiting signature"))

    # The district's market officer: not his department's business; he names the police.
    with _signed_in(browser, live_server, "xnmarket") as page:
        page.goto("/leads/orders/")
        expect(page.locator("#results")).to_contain_text(reference)
        assert REPORTER_NAME not in page.content()
        assert REPORTER_PHONE not in page.content()
        _open_order(page, reference)
        expect(page.locator("#order-panel h1")).to_contain_text(MARKET)
        page.locator("summary").filter(has_text=_zh("Return this order (退单)")).click()
        page.locator("select[name=return-proposed_department]").select_option(label=POLICE_FULL)
        page.locator("textarea[name=return-reason]").fill(
            "在家中无证开展一对一学科培训，不涉及经营主体登记，应由公安部门牵头核查。"
        )
        page.get_by_role("button", name=_zh("Request the return")).click()
        _flash(page, "#order-panel", "Return requested; the bureau will decide.")
        expect(page.locator("#order-panel")).to_contain_text(POLICE_FULL)
        for text in (REPORTER_NAME, REPORTER_PHONE):
            assert text not in page.content(), f"{text} shown to a department"
        _shot(page, "3_market_return")

    # The bureau reassigns the returned order to the police; then the clock runs ten days on.
    with _signed_in(browser, live_server, "supervisor") as page:
        page.goto(lead_url)
        returned = _row_of(page.locator("#lead-orders tbody tr"), MARKET)
        expect(returned).to_contain_text(_zh("return requested"))
        target = returned.locator("select[name=department]")
        expect(target.locator("option:checked")).to_have_text(POLICE)
        returned.get_by_role("button", name=_zh("Reassign"), exact=True).click()
        _flash(page, "#lead-panel", "Work order reassigned.")
        orders = page.locator("#lead-orders tbody tr")
        expect(orders).to_have_count(3)
        expect(returned).to_contain_text(_zh("reassigned"))
        expect(_row_of(orders, POLICE)).to_contain_text(_zh("awaiting signature"))

        scan = _in_django(lambda: clock.overdue_scan(now=timezone.now() + timedelta(days=10)))
        assert scan.urged == 2, scan
        assert scan.escalated == 2, scan

        page.reload()
        timeline = page.locator("#lead-timeline")
        expect(timeline).to_contain_text(_zh("urged (催办)"))
        expect(timeline).to_contain_text(_zh("escalated to the level above"))
        supervised = page.locator("#lead-orders tbody tr").filter(has_text=_zh("under supervision"))
        expect(supervised).to_have_count(2)
        _shot(page, "4_supervisor_urged_and_escalated")

    # The police and the education bureau sign for their orders and reply.
    with _signed_in(browser, live_server, "gongan") as page:
        _sign_and_reply(
            page,
            reference,
            POLICE,
            "已会同社区上门核查，当事人承认在家开展一对一数学补习，已责令立即停止。",
        )
        assert REPORTER_NAME not in page.content()
        _shot(page, "5_police_reply")
    with _signed_in(browser, live_server, "xnjiaoyu") as page:
        _sign_and_reply(
            page,
            reference,
            EDUCATION,
            "已约谈当事人，下达整改通知，督促退还学员家长已收培训费用。",
        )
        assert REPORTER_NAME not in page.content()
        _shot(page, "6_education_reply")

    # The bureau verifies both replies, runs the joint operation, records the refund, closes.
    with _signed_in(browser, live_server, "supervisor") as page:
        page.goto(lead_url)
        accept_reply = page.get_by_role("button", name=_zh("Accept the reply"))
        expect(accept_reply).to_have_count(2)
        accept_reply.first.click()
        _flash(page, "#lead-panel", "Reply accepted.")
        expect(accept_reply).to_have_count(1)
        accept_reply.first.click()
        expect(accept_reply).to_have_count(0)
        expect(page.locator("#lead-panel h1 small")).to_have_text(_zh("verified"))

        page.locator("#lead-panel a[href*='/leads/joint/']").first.click()
        expect(page.locator("#joint-panel h1 small")).to_have_text(_zh("proposed"))
        confirm = page.locator("form[action$='/confirm/']")
        confirm.locator("input[name=planned_for]").fill(timezone.localdate().isoformat())
        departments = confirm.locator("input[name=departments]")
        for n in range(departments.count()):
            departments.nth(n).uncheck()
        confirm.get_by_role("checkbox", name=EDUCATION, exact=True).check()
        confirm.get_by_role("checkbox", name=POLICE_FULL, exact=True).check()
        confirm.locator("textarea[name=named]").fill(f"王明, {EDUCATION}")
        confirm.get_by_role("button", name=_zh("Confirm"), exact=True).click()
        _flash(page, "#joint-panel", "Joint operation confirmed.")
        expect(page.locator("#joint-panel")).to_contain_text("王明")
        page.locator("textarea[name=outcome]").fill("联合检查现场，补习已停止，教学用品已清理。")
        page.get_by_role("button", name=_zh("Record"), exact=True).click()
        _flash(page, "#joint-panel", "Joint operation recorded.")
        expect(page.locator("#joint-panel h1 small")).to_have_text(_zh("carried out and recorded"))
        _shot(page, "7_supervisor_joint_recorded")

        page.goto(lead_url)
        case_panel = page.locator("#lead-case-panel")
        case_panel.get_by_role("button", name=_zh("Open a case")).click()
        expect(case_panel.locator(".flash.success")).to_contain_text(_zh("Case opened."))
        case_panel.get_by_role("link", name=_zh("Open the case page")).click()
        expect(page.locator("#case-panel h1")).to_contain_text(reference)
        page.locator("summary").filter(has_text=_zh("Report a refund")).click()
        page.locator("input[name=refund-amount]").fill("12800")
        page.locator("input[name=refund-families]").fill("3")
        page.locator("input[name=refund-note]").fill("一对一补习预收费用全部退还")
        page.get_by_role("button", name=_zh("Report"), exact=True).click()
        _flash(page, "#case-panel", "Refund reported; the bureau will verify it.")
        refund = page.locator("#case-panel tr[id^=refund-]")
        expect(refund).to_contain_text("12,800.00")
        refund.get_by_role("button", name=_zh("Verify")).click()
        _flash(page, "#case-panel", "Refund verified.")
        expect(refund).to_contain_text(_zh("verified"))
        _shot(page, "8_supervisor_refund_verified")

        page.goto(lead_url)
        close = page.locator("form[action$='/do/close/']")
        close.locator("select[name=reason]").select_option(ClosureReason.RECTIFIED.value)
        close.get_by_role("button", name=_zh("Close the lead")).click()
        _flash(page, "#lead-panel", "Lead closed.")
        expect(page.locator("#lead-panel h1 small")).to_have_text(_zh("closed"))
        expect(page.locator("#lead-timeline")).to_contain_text(_zh("closed"))
        _shot(page, "9_supervisor_closed")

    def checked() -> tuple[int, str, str]:
        out = io.StringIO()
        try:
            call_command("check_loop", stdout=out)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, out.getvalue(), Lead.objects.get(pk=tip.pk).status

    code, report, status = _in_django(checked)
    assert code == 0, report
    assert status == LeadStatus.CLOSED
