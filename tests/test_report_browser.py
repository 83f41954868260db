"""The figures and the yearly report in Chromium: figures open their records, the sentence prints.

The demo registry, leads and screening round are loaded and one of 杨铁柱's visits is approved, so
the year's figures count something. The city supervisor opens the figures page, follows a figure
to its records, opens the yearly report and prints it to PDF (the browser's print is the PDF
route); the printed page keeps the article's sentence and drops the menu.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

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
    review_services.inspection_approve(
        actor=User.objects.get(username="wenchang"), inspection=submitted_inspection(item)
    )


def _sign_in(page: Page, username: str) -> None:
    page.goto("/login/")
    form = page.locator("main form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def test_the_yearly_report_prints_with_the_articles_sentence(activity: None, page: Page) -> None:
    _sign_in(page, "supervisor")
    page.goto("/reports/")
    expect(page.locator("#figure-institutions .value")).to_have_text("1")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "figures.png"), full_page=True)

    with page.expect_navigation():
        page.locator("#figure-institutions").click()
    expect(page.locator("table.grid tbody tr")).to_have_count(1)
    expect(page.locator("#figure-total")).to_have_text("1")

    page.goto("/reports/report/")
    sentence = page.locator("#sentence")
    expect(sentence).to_contain_text("今年以来，出动检查人员1人次，摸排机构1家")
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)

    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.locator(".no-print").first).to_be_hidden()
    expect(sentence).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "report_print.png"), full_page=True)
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    assert len(io.BytesIO(pdf).getvalue()) > 5_000
