"""The rounds pages: who sees which page, opening a round through the form, adjusting a draft,
issuing, progress, and each inspector's table as XLSX and as a printable page with a QR code.

Out of scope is a 404; every refused POST is checked against the database.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.exports import XLSX_TYPE
from bihuan.registry.models import Category, Institution, Source
from bihuan.screening import round_services as services
from bihuan.screening.models import ChecklistVersion, Round, Task, TaskItem
from bihuan.screening.tests import factories
from bihuan.screening.workflow import InspectionStatus, RoundStatus
from bihuan.territory.models import Region

pytestmark = pytest.mark.django_db
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with factories.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    return {}


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    # The assertions read the English strings; the Chinese catalogue is filled separately.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def version(demo_city: dict[str, int]) -> ChecklistVersion:
    return factories.checklist()


def _institution(name: str, region: Region, **extra: Any) -> Institution:
    return Institution.objects.create(
        name=name,
        name_normalized=name,
        region=region,
        community=region if region.level == "community" else None,
        source=Source.MANUAL,
        category=extra.pop("category", Category.ARTS),
        address=extra.pop("address", "体育路18号"),
        **extra,
    )


@pytest.fixture
def three(demo_city: dict[str, int]) -> list[Institution]:
    wenchang = factories.wenchang()
    return [_institution(f"文昌机构{i}", wenchang) for i in range(3)]


@pytest.fixture
def draft(coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]) -> Round:
    today = timezone.localdate()
    return services.round_open(
        actor=coordinator_wenchang,
        region=factories.wenchang(),
        name="文昌社区 2026年第4期排查",
        starts_on=today,
        ends_on=today + datetime.timedelta(days=14),
        checklist=version,
    )


def _login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def _state() -> tuple[Any, ...]:
    return (
        list(Round.objects.order_by("pk").values_list("pk", "status")),
        list(Task.objects.order_by("pk").values_list("pk", "inspector_id", "kind")),
        list(TaskItem.objects.order_by("pk").values_list("pk", "task_id", "position")),
        Event.objects.count(),
    )


def _user(username: str) -> User:
    return User.objects.get(username=username)


# ---------------------------------------------------------------------------- who sees which page

PAGES = ["list", "detail", "progress"]


def _url(page: str, round_: Round) -> str:
    if page == "list":
        return reverse("screening:rounds")
    if page == "detail":
        return reverse("screening:round_detail", args=[round_.pk])
    return reverse("screening:round_progress", args=[round_.pk])


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("coordinator_wenchang", 200),
        ("supervisor_city", 200),
        ("supervisor_xiaonan", 200),
        ("coordinator_huaiyin", 404),
        ("inspector_wenchang", 404),
        ("officer_market", 404),
        ("admin_system", 404),
        ("school_tiyulu", 404),
    ],
)
@pytest.mark.parametrize("page", PAGES)
def test_round_pages_answer_managers_of_the_place_only(
    persona: str,
    expected: int,
    page: str,
    request: pytest.FixtureRequest,
    client: Client,
    draft: Round,
) -> None:
    user = request.getfixturevalue(persona)
    response = _login(client, user).get(_url(page, draft))
    if page == "list" and persona == "coordinator_huaiyin":
        # The list answers every manager, but 槐荫's coordinator does not see 文昌's round.
        assert response.status_code == 200
        assert draft.name not in response.content.decode()
        return
    assert response.status_code == expected


def test_list_filters_by_status_and_exports(
    client: Client, coordinator_wenchang: User, draft: Round
) -> None:
    c = _login(client, coordinator_wenchang)
    assert draft.name in c.get(reverse("screening:rounds"), {"status": "draft"}).content.decode()
    assert (
        draft.name not in c.get(reverse("screening:rounds"), {"status": "issued"}).content.decode()
    )
    assert (
        draft.name not in c.get(reverse("screening:rounds"), {"place": "420921"}).content.decode()
    )
    response = c.get(reverse("screening:rounds"), {"format": "xlsx"})
    assert response["Content-Type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0] == draft.name and rows[1][7] == 3


def test_list_runs_a_fixed_number_of_queries(
    client: Client,
    coordinator_wenchang: User,
    version: ChecklistVersion,
    three: list[Institution],
    django_assert_max_num_queries: Any,
) -> None:
    today = timezone.localdate()
    for i in range(8):
        services.round_open(
            actor=coordinator_wenchang,
            region=factories.wenchang(),
            name=f"第{i}期",
            starts_on=today,
            ends_on=today,
            checklist=version,
        )
    c = _login(client, coordinator_wenchang)
    with django_assert_max_num_queries(12):
        response = c.get(reverse("screening:rounds"), **HTMX)
    assert response.status_code == 200 and "第7期" in response.content.decode()


def test_round_page_runs_a_fixed_number_of_queries(
    client: Client, coordinator_wenchang: User, draft: Round, django_assert_max_num_queries: Any
) -> None:
    wenchang = factories.wenchang()
    for i in range(20):
        _institution(f"更多机构{i}", wenchang)
    fresh = services.round_regenerate(actor=coordinator_wenchang, round_=draft)
    c = _login(client, coordinator_wenchang)
    with django_assert_max_num_queries(20):
        response = c.get(reverse("screening:round_detail", args=[fresh.pk]))
    assert response.status_code == 200
    assert response.content.decode().count("/move/") == 23


# ---------------------------------------------------------------------------- opening


def test_coordinator_opens_a_round_through_the_form(
    client: Client, coordinator_wenchang: User, version: ChecklistVersion, three: list[Institution]
) -> None:
    c = _login(client, coordinator_wenchang)
    page = c.get(reverse("screening:round_new")).content.decode()
    assert factories.data.WENCHANG in page and factories.data.HUAIYIN not in page
    today = timezone.localdate()
    response = c.post(
        reverse("screening:round_new"),
        {
            "region": factories.data.WENCHANG,
            "name": "文昌社区 第5期",
            "starts_on": today.isoformat(),
            "ends_on": (today + datetime.timedelta(days=7)).isoformat(),
            "checklist": version.pk,
        },
    )
    round_ = Round.objects.get(name="文昌社区 第5期")
    assert response.status_code == 302
    assert response["Location"] == reverse("screening:round_detail", args=[round_.pk])
    assert round_.items.count() == 3


def test_a_place_outside_ones_area_is_not_offered(
    client: Client, coordinator_wenchang: User, version: ChecklistVersion
) -> None:
    before = _state()
    today = timezone.localdate()
    response = _login(client, coordinator_wenchang).post(
        reverse("screening:round_new"),
        {
            "region": factories.data.HUAIYIN,
            "name": "越界",
            "starts_on": today.isoformat(),
            "ends_on": today.isoformat(),
            "checklist": version.pk,
        },
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert _state() == before


def test_a_backwards_period_is_shown_on_the_form(
    client: Client, coordinator_wenchang: User, version: ChecklistVersion
) -> None:
    before = _state()
    today = timezone.localdate()
    response = _login(client, coordinator_wenchang).post(
        reverse("screening:round_new"),
        {
            "region": factories.data.WENCHANG,
            "name": "倒序",
            "starts_on": today.isoformat(),
            "ends_on": (today - datetime.timedelta(days=1)).isoformat(),
            "checklist": version.pk,
        },
    )
    assert "The period must end on or after the day it starts." in response.content.decode()
    assert _state() == before


# ---------------------------------------------------------------------------- the round page


def test_round_page_shows_why_this_order_and_the_risk_parts(
    client: Client, coordinator_wenchang: User, draft: Round
) -> None:
    page = _login(client, coordinator_wenchang).get(
        reverse("screening:round_detail", args=[draft.pk])
    )
    text = page.content.decode()
    assert "Why this order" in text and "10 × open leads" in text
    for item in draft.items.select_related("institution"):
        assert item.institution.name in text


def test_coordinator_moves_an_item_through_the_page(
    client: Client, coordinator_wenchang: User, draft: Round
) -> None:
    yang = _user("yangtiezhu")
    item = draft.items.exclude(task__inspector=yang).first()
    assert item is not None
    response = _login(client, coordinator_wenchang).post(
        reverse("screening:item_move", args=[item.pk]), {"inspector": yang.pk}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.task.inspector_id == yang.pk


@pytest.mark.parametrize(
    "persona", ["coordinator_huaiyin", "inspector_wenchang", "officer_market", "admin_system"]
)
def test_moving_from_outside_the_place_is_a_404_and_changes_nothing(
    persona: str, request: pytest.FixtureRequest, client: Client, draft: Round
) -> None:
    yang = _user("yangtiezhu")
    item = draft.items.exclude(task__inspector=yang).first()
    assert item is not None
    before = _state()
    user = request.getfixturevalue(persona)
    response = _login(client, user).post(
        reverse("screening:item_move", args=[item.pk]), {"inspector": yang.pk}
    )
    assert response.status_code == 404
    assert _state() == before


@pytest.mark.parametrize("action", ["issue", "close", "regenerate", "sweep"])
@pytest.mark.parametrize("persona", ["coordinator_huaiyin", "inspector_wenchang", "admin_system"])
def test_round_actions_from_outside_are_a_404_and_change_nothing(
    persona: str, action: str, request: pytest.FixtureRequest, client: Client, draft: Round
) -> None:
    before = _state()
    user = request.getfixturevalue(persona)
    response = _login(client, user).post(
        reverse("screening:round_action", args=[draft.pk, action]),
        {
            "inspector": _user("inspector2").pk,
            "region": factories.data.WENCHANG,
            "instructions": "步行",
        },
    )
    assert response.status_code == 404
    assert _state() == before


def test_a_refused_move_is_a_message_not_an_error(
    client: Client, coordinator_wenchang: User, draft: Round
) -> None:
    item = draft.items.first()
    assert item is not None
    before = _state()
    c = _login(client, coordinator_wenchang)
    response = c.post(
        reverse("screening:item_move", args=[item.pk]),
        {"inspector": _user("market").pk},
        follow=True,
    )
    assert response.status_code == 200
    assert "Choose an inspector." in response.content.decode()
    assert _state() == before


def test_sweep_and_issue_through_the_page(
    client: Client, coordinator_wenchang: User, draft: Round
) -> None:
    c = _login(client, coordinator_wenchang)
    c.post(
        reverse("screening:round_action", args=[draft.pk, "sweep"]),
        {
            "inspector": _user("inspector2").pk,
            "region": factories.data.WENCHANG,
            "instructions": "沿体育路、文昌路步行排查",
        },
    )
    assert draft.tasks.filter(kind="sweep").count() == 1
    response = c.post(reverse("screening:round_action", args=[draft.pk, "issue"]), follow=True)
    draft.refresh_from_db()
    assert draft.status == RoundStatus.ISSUED
    assert "Round issued" in response.content.decode()


def test_unknown_action_is_a_404(client: Client, coordinator_wenchang: User, draft: Round) -> None:
    before = _state()
    response = _login(client, coordinator_wenchang).post(
        reverse("screening:round_action", args=[draft.pk, "explode"])
    )
    assert response.status_code == 404
    assert _state() == before


# ---------------------------------------------------------------------------- progress


def test_progress_counts_done_and_approved_per_inspector(
    client: Client, coordinator_wenchang: User, draft: Round, django_assert_max_num_queries: Any
) -> None:
    services.round_issue(actor=coordinator_wenchang, round_=draft)
    items = list(draft.items.order_by("pk"))
    factories.submitted_inspection(items[0])
    approved = factories.submitted_inspection(items[1])
    type(approved).objects.filter(pk=approved.pk).update(
        status=InspectionStatus.APPROVED, approved_at=timezone.now()
    )
    c = _login(client, coordinator_wenchang)
    with django_assert_max_num_queries(10):
        response = c.get(reverse("screening:round_progress", args=[draft.pk]), **HTMX)
    text = response.content.decode()
    assert 'hx-trigger="every 30s"' in text
    assert re.search(r'<progress max="3" value="2">', text)
    # All inspectors: 2 done (one of them approved) of 3.
    assert "<th>2</th><th>1</th><th>3</th>" in text
    for task in draft.tasks.all():
        assert task.inspector.display_name in text


# ---------------------------------------------------------------------------- task tables out


def test_task_table_as_xlsx_in_risk_order(
    client: Client, coordinator_wenchang: User, draft: Round
) -> None:
    task = draft.tasks.order_by("pk").first()
    assert task is not None
    response = _login(client, coordinator_wenchang).get(
        reverse("screening:task_xlsx", args=[task.pk])
    )
    assert response["Content-Type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Order", "Institution", "Address", "Licence category", "Risk", "Status")
    names = [r[1] for r in rows[1:]]
    expected = list(task.items.order_by("position").values_list("institution__name", flat=True))
    assert names == expected
    assert rows[1][5] == "to visit"


def test_printable_table_has_a_qr_code_to_the_task(
    client: Client, coordinator_wenchang: User, draft: Round
) -> None:
    task = draft.tasks.order_by("pk").first()
    assert task is not None
    response = _login(client, coordinator_wenchang).get(
        reverse("screening:task_print", args=[task.pk])
    )
    text = response.content.decode()
    # The print rules are a static file (the Content-Security-Policy refuses inline <style>).
    assert "/static/css/task-print.css" in text
    stylesheet = finders.find("css/task-print.css")
    assert stylesheet is not None
    rules = Path(stylesheet).read_text(encoding="utf-8")
    assert "@media print" in rules and "size: A4" in rules
    assert "<svg" in text and 'class="segno"' in text
    assert f"http://testserver/screening/tasks/{task.pk}/" in text
    for name in task.items.values_list("institution__name", flat=True):
        assert name in text


def test_an_inspector_prints_their_own_table_only(
    client: Client, coordinator_wenchang: User, draft: Round
) -> None:
    services.round_issue(actor=coordinator_wenchang, round_=draft)
    own = Task.objects.get(round=draft, inspector__username="yangtiezhu")
    other = Task.objects.get(round=draft, inspector__username="inspector2")
    c = _login(client, _user("yangtiezhu"))
    assert c.get(reverse("screening:task_print", args=[own.pk])).status_code == 200
    assert c.get(reverse("screening:task_xlsx", args=[own.pk])).status_code == 200
    assert c.get(reverse("screening:task_print", args=[other.pk])).status_code == 404
    assert c.get(reverse("screening:task_xlsx", args=[other.pk])).status_code == 404


def test_an_inspectors_table_is_not_theirs_before_the_round_is_issued(
    client: Client, draft: Round
) -> None:
    own = Task.objects.get(round=draft, inspector__username="yangtiezhu")
    c = _login(client, _user("yangtiezhu"))
    assert c.get(reverse("screening:task_print", args=[own.pk])).status_code == 404
    assert c.get(reverse("screening:task_xlsx", args=[own.pk])).status_code == 404


@pytest.mark.parametrize("persona", ["coordinator_huaiyin", "officer_market", "school_tiyulu"])
def test_task_tables_outside_the_place_are_a_404(
    persona: str, request: pytest.FixtureRequest, client: Client, draft: Round
) -> None:
    task = draft.tasks.first()
    assert task is not None
    c = _login(client, request.getfixturevalue(persona))
    assert c.get(reverse("screening:task_print", args=[task.pk])).status_code == 404
    assert c.get(reverse("screening:task_xlsx", args=[task.pk])).status_code == 404
