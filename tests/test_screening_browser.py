"""The article's opening scene on a phone, in Debian's Chromium, in Chinese.

杨铁柱 (yangtiezhu), a volunteer of 文昌社区, opens the new period's task table on his phone: the
three institutions of his community. At the first he fills the bureau's default checklist, takes a
photo of the façade, finds the price list missing (a flagged answer, with a photo as evidence),
records his position and submits. The coordinator 赵丽 (wenchang) returns it: the evidence photo is
unclear. He corrects it (a note and a new version) and submits again; she approves; the flagged
answer is now a lead in the city bureau's triage queue, pre-classified as D4.

The phone is a 390×844 touch screen with the geolocation permission granted and a position a few
metres from the institution's registered address.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connections
from django.utils import translation
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from bihuan.demo.data import DEMO_PASSWORD, WENCHANG
from bihuan.leads.workflow import LeadSource, LeadStatus
from bihuan.registry.demo import WENCHANG_STORY, load_demo_registry
from bihuan.registry.models import Institution
from bihuan.screening.demo import load_demo_screening
from bihuan.screening.models import Inspection, Round
from bihuan.screening.workflow import InspectionStatus

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
STORY_NAMES = [spec.name for spec in WENCHANG_STORY]
VISITED = STORY_NAMES[0]  # 孝南区启明学科辅导中心
# Answers inside every constraint that flag nothing; other numbers get 1.
NUMBERS = {"top_floor": "2", "area_m2": "120", "students_present": "12", "staff_count": "3"}
NUMBERS |= {"prepaid_months": "2", "prepaid_hours": "40"}
FLAGGED = "price_posted"  # 未明码标价: flagged on "no", needs a photo, suggests D4
RETURN_REASON = "价目表照片看不清，请补充说明现场情况。"
CORRECTION = "前台未张贴价目表，工作人员称价目表在重新印制。"

T = TypeVar("T")


def _zh(message: str, **values: Any) -> str:
    with translation.override("zh-hans"):
        text = translation.gettext(message)
    return text % values if values else text


def _in_django(call: Callable[[], T]) -> T:
    """Database work in a thread without the browser's event loop (Django refuses it there)."""

    def run() -> T:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    """A real photo-sized JPEG, so the phone's downscaling and the server's checks both run."""
    buffer = io.BytesIO()
    Image.new("RGB", (2400, 1800), colour).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@pytest.fixture
def story(live_db: None, demo_city: dict[str, int]) -> Institution:
    """The demo registry and the demo round, committed; the institution he visits first."""
    load_demo_registry()
    load_demo_screening()
    return Institution.objects.get(name=VISITED)


@contextmanager
def _signed_in(
    browser: Browser, live_server: LiveServer, username: str, *, phone: Institution | None = None
) -> Iterator[Page]:
    """A fresh profile in Chinese, signed in through the login page; a phone if ``phone`` is set.

    The phone stands a few metres from ``phone``'s registered position, with geolocation granted.
    """
    options: dict[str, Any] = {
        "base_url": live_server.url,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "viewport": {"width": 1280, "height": 900},
    }
    if phone is not None:
        assert phone.latitude is not None and phone.longitude is not None
        options |= {
            "viewport": {"width": 390, "height": 844},
            "is_mobile": True,
            "has_touch": True,
            "device_scale_factor": 2,
            "geolocation": {
                "latitude": float(phone.latitude) + 0.0001,
                "longitude": float(phone.longitude),
                "accuracy": 12,
            },
            "permissions": ["geolocation"],
        }
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
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
    page.screenshot(path=str(SCREENSHOTS / f"screening_{name}.png"), full_page=True)


def _fits_the_phone(page: Page) -> None:
    """Nothing is wider than the screen: a phone would otherwise zoom the whole page out."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("window.innerWidth") == 390


def _photo(page: Page, question: str, colour: tuple[int, int, int]) -> None:
    """Take a photo for a question: the phone scales it down and uploads it at once."""
    thumbs = page.locator(f"[data-thumbs='{question}'] img")
    before = thumbs.count()
    photo: FilePayload = {"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": _jpeg(colour)}
    page.locator(f"input[data-photo-for='{question}']").set_input_files(files=[photo])
    expect(thumbs).to_have_count(before + 1)


def _answer(question: Locator) -> None:
    """Give a shown question an answer that flags nothing."""
    name = question.get_attribute("data-question") or ""
    kind = question.get_attribute("data-type")
    if kind in {"yes_no_na", "select_one", "select_multiple"}:
        question.locator("label.tap:not(.flags) input").first.check()
    elif kind in {"integer", "decimal"}:
        question.locator(f"input[name='q-{name}']").fill(NUMBERS.get(name, "1"))
    elif kind == "location":
        question.locator(f"[data-locate='{name}']").click()
        expect(question.locator(f"input[name='q-{name}-lat']")).not_to_have_value("")
    elif kind == "photo" and question.locator(".req").count():
        _photo(question.page, name, (120, 140, 160))


def _fill_checklist(page: Page) -> None:
    """Answer every shown question in order (skip logic shows more as answers come)."""
    page.locator("input[name=outcome][value=visited]").check()
    questions = page.locator("#checklist .q[data-question]")
    for index in range(questions.count()):
        question = questions.nth(index)
        if not question.is_visible():
            continue
        if question.get_attribute("data-question") == FLAGGED:
            question.locator("input[value=no]").check()
            expect(question.locator("[data-evidence-hint]")).to_be_visible()
            _photo(page, FLAGGED, (200, 40, 40))
            continue
        _answer(question)


def test_a_volunteer_screens_on_his_phone_and_the_flag_reaches_the_bureau(
    story: Institution, browser: Browser, live_server: LiveServer
) -> None:
    # 杨铁柱 opens the new period's task table: the three institutions of 文昌社区.
    with _signed_in(browser, live_server, "yangtiezhu", phone=story) as page:
        page.goto("/screening/")
        expect(page.locator("header nav.menu")).to_contain_text(_zh("My tasks"))
        card = page.locator("a.task-card").filter(has_text="文昌社区")
        expect(card).to_contain_text(_zh("%(done)s of %(total)s done", done=0, total=3))
        card.click()
        items = page.locator("ol.items li.item")
        expect(items).to_have_count(3)
        for name in STORY_NAMES:
            expect(items.filter(has_text=name)).to_have_count(1)
        _fits_the_phone(page)
        _shot(page, "1_task_table")

        # At the first institution: the checklist, a façade photo, the missing price list.
        items.filter(has_text=VISITED).get_by_role("link", name=_zh("Start")).click()
        expect(page.locator("h1")).to_contain_text(VISITED)
        _fill_checklist(page)
        page.locator("#locate").click()
        expect(page.locator("#position-status")).to_contain_text("±")
        expect(page.locator("#position-far")).to_be_hidden()
        _shot(page, "2_checklist")
        _fits_the_phone(page)
        page.locator("#submit-button").click()
        expect(page.locator(".flash.success, .messages .success").first).to_contain_text(
            _zh("Inspection submitted for review.")
        )
        expect(items.filter(has_text=VISITED)).to_contain_text(_zh("submitted"))

    inspection = _in_django(lambda: Inspection.objects.get(institution=story))
    assert inspection.status == InspectionStatus.SUBMITTED and inspection.version == 1
    assert inspection.flag_count == 1
    assert inspection.accuracy_m is not None and not inspection.is_far

    # The coordinator returns it: the evidence is not clear enough.
    with _signed_in(browser, live_server, "wenchang") as page:
        page.goto("/screening/review/")
        page.locator(f"#inspection-{inspection.pk}").get_by_role("link", name=VISITED).click()
        expect(page.locator("main")).to_contain_text("D4")
        _shot(page, "3_review")
        page.locator("textarea[name=reason]").fill(RETURN_REASON)
        page.get_by_role("button", name=_zh("Return for correction")).click()
        expect(page.locator("main")).to_contain_text(
            _zh("Returned to the inspector for correction.")
        )

    # He corrects it on his phone: the reason is shown; a note, and the second version goes.
    with _signed_in(browser, live_server, "yangtiezhu", phone=story) as page:
        page.goto("/screening/")
        page.locator("a.task-card").filter(has_text="文昌社区").click()
        row = page.locator("ol.items li.item").filter(has_text=VISITED)
        expect(row).to_contain_text(_zh("returned for correction"))
        row.get_by_role("link", name=_zh("Continue")).click()
        expect(page.locator("main")).to_contain_text(RETURN_REASON)
        page.locator(f"textarea[name='note-{FLAGGED}']").fill(CORRECTION)
        page.locator("#locate").click()
        expect(page.locator("#position-status")).to_contain_text("±")
        page.locator("#submit-button").click()
        expect(page.locator(".flash.success, .messages .success").first).to_contain_text(
            _zh("Inspection submitted for review.")
        )

    # She approves; the flagged answer becomes a lead.
    with _signed_in(browser, live_server, "wenchang") as page:
        page.goto(f"/screening/review/{inspection.pk}/")
        expect(page.locator("main")).to_contain_text(CORRECTION)
        page.get_by_role("button", name=_zh("Approve"), exact=True).click()
        expect(page.locator("main")).to_contain_text(_zh("Approved.").rstrip("。."))

    inspection = _in_django(lambda: Inspection.objects.select_related("lead").get(pk=inspection.pk))
    assert inspection.status == InspectionStatus.APPROVED and inspection.version == 2
    assert _in_django(lambda: inspection.versions.count()) == 2
    lead = inspection.lead
    assert lead is not None and lead.source == LeadSource.INSPECTION
    assert lead.status == LeadStatus.NEW and lead.institution_id == story.pk
    assert _in_django(lambda: sorted(lead.violation_types.values_list("code", flat=True))) == ["D4"]
    assert _in_django(lambda: lead.attachments.count()) == 1

    # The city bureau finds it in its triage queue.
    with _signed_in(browser, live_server, "supervisor") as page:
        page.goto("/leads/")
        row = page.locator("#results tbody tr").filter(has_text=lead.reference)
        expect(row).to_contain_text(VISITED)
        expect(row).to_contain_text(_zh("inspection"))
        _shot(page, "4_bureau_queue")


def test_the_task_table_prints_with_a_qr_code_that_opens_the_task(
    story: Institution, browser: Browser, live_server: LiveServer
) -> None:
    task = _in_django(
        lambda: Round.objects.get(region__code=WENCHANG).tasks.get(inspector__username="yangtiezhu")
    )
    task_path = f"/screening/tasks/{task.pk}/"
    with _signed_in(browser, live_server, "wenchang") as page:
        page.goto(f"/screening/rounds/tasks/{task.pk}/print/")
        expect(page.locator(".qr svg")).to_be_visible()
        rows = page.locator("tbody tr").filter(has_text="孝南区")
        expect(rows).to_have_count(3)
        for name in STORY_NAMES:
            expect(rows.filter(has_text=name)).to_have_count(1)
        expect(page.locator("footer")).to_contain_text(live_server.url + task_path)
        page.emulate_media(media="print")
        expect(page.locator(".noprint")).to_be_hidden()
        _shot(page, "5_task_print")
    # What the QR code holds opens his task on his phone.
    with _signed_in(browser, live_server, "yangtiezhu", phone=story) as page:
        page.goto(task_path)
        expect(page.locator("ol.items li.item")).to_have_count(3)
