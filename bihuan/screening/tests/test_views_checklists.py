"""Checklist pages: authors write, round managers read published versions, others get 404."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext
from openpyxl import Workbook

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.screening import checklist_services as services
from bihuan.screening.models import ChecklistTemplate, ChecklistVersion
from bihuan.screening.tests import factories as f
from bihuan.screening.tests.factories import SIMPLE
from bihuan.screening.workflow import VersionStatus
from bihuan.screening.xlsform import export_workbook, import_workbook

pytestmark = pytest.mark.django_db

READERS = ["supervisor_city", "supervisor_xiaonan", "coordinator_wenchang", "coordinator_huaiyin"]
OUTSIDERS = [
    "admin_security",
    "admin_audit",
    "inspector_wenchang",
    "officer_market",
    "school_tiyulu",
    "area_guangchang",
]


@pytest.fixture(scope="module")
def _city(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with f.city_for_module(django_db_blocker):
        yield


@pytest.fixture
def demo_city(_city: None, db: None) -> dict[str, int]:
    # Overrides conftest's: the city is already there, the personas only look themselves up.
    return {}


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def draft(admin_system: User) -> ChecklistVersion:
    template = services.template_create(
        actor=admin_system, code="trial", name="试用表", definition=copy.deepcopy(SIMPLE)
    )
    return template.versions.get()


@pytest.fixture
def published() -> ChecklistVersion:
    return ChecklistVersion.objects.get(template__code="default", number=1)


@pytest.fixture
def admin(client: Client, admin_system: User) -> Client:
    client.force_login(admin_system)
    return client


def _url(route: str, version: ChecklistVersion, **extra: Any) -> str:
    return reverse(
        f"screening:{route}", kwargs={"pk": version.template_id, "number": version.number, **extra}
    )


def _state() -> tuple[Any, ...]:
    return (
        list(ChecklistTemplate.objects.order_by("pk").values()),
        list(ChecklistVersion.objects.order_by("pk").values()),
        Event.objects.count(),
    )


def _zh(message: str, **values: Any) -> str:
    """A message as the page shows it: pages speak Chinese unless the browser asks otherwise."""
    with translation.override("zh-hans"):
        text = gettext(message)
        return text % values if values else text


def _as(client: Client, request: pytest.FixtureRequest, persona: str) -> Client:
    client.force_login(request.getfixturevalue(persona))
    return client


# ---------------------------------------------------------------------------- reading


def test_list_shows_every_checklist_and_the_new_button_to_authors(
    admin: Client, draft: ChecklistVersion
) -> None:
    page = admin.get(reverse("screening:checklists")).content.decode()
    assert "default" in page and "试用表" in page
    assert reverse("screening:checklist_new") in page


@pytest.mark.parametrize("persona", READERS)
def test_round_managers_read_the_list_without_drafts(
    client: Client, request: pytest.FixtureRequest, draft: ChecklistVersion, persona: str
) -> None:
    page = _as(client, request, persona).get(reverse("screening:checklists")).content.decode()
    assert _url("checklist_version", ChecklistVersion.objects.get(template__code="default")) in page
    assert _url("checklist_version", draft) not in page
    assert reverse("screening:checklist_new") not in page


@pytest.mark.parametrize("persona", READERS)
def test_round_managers_read_a_published_version_but_not_a_draft(
    client: Client,
    request: pytest.FixtureRequest,
    draft: ChecklistVersion,
    published: ChecklistVersion,
    persona: str,
) -> None:
    reader = _as(client, request, persona)
    response = reader.get(_url("checklist_version", published))
    assert response.status_code == 200
    assert _url("checklist_publish", published) not in response.content.decode()
    assert reader.get(_url("checklist_export", published)).status_code == 200
    assert reader.get(_url("checklist_version", draft)).status_code == 404
    assert reader.get(_url("checklist_export", draft)).status_code == 404


@pytest.mark.parametrize("persona", OUTSIDERS)
def test_everyone_else_gets_404(
    client: Client, request: pytest.FixtureRequest, published: ChecklistVersion, persona: str
) -> None:
    other = _as(client, request, persona)
    for path in (
        reverse("screening:checklists"),
        reverse("screening:checklist_detail", kwargs={"pk": published.template_id}),
        _url("checklist_version", published),
        _url("checklist_export", published),
    ):
        assert other.get(path).status_code == 404, path


def test_strangers_are_sent_to_sign_in(client: Client, published: ChecklistVersion) -> None:
    response = client.get(_url("checklist_version", published))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_list_query_count_does_not_grow_with_checklists(
    admin: Client, admin_system: User, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(12):
        admin.get(reverse("screening:checklists"))
    for i in range(8):
        services.template_create(
            actor=admin_system, code=f"t{i}", name=f"计数表{i}", definition=copy.deepcopy(SIMPLE)
        )
    with django_assert_max_num_queries(12):
        response = admin.get(reverse("screening:checklists"))
    assert "计数表7" in response.content.decode()


def test_list_exports_xlsx(admin: Client) -> None:
    response = admin.get(reverse("screening:checklists") + "?format=xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")


def test_version_page_shows_questions_grouped_with_logic_and_flags(
    admin: Client, published: ChecklistVersion
) -> None:
    with translation.override("zh-hans"):
        page = admin.get(_url("checklist_version", published)).content.decode()
    assert "资质" in page and "场所与消防" in page
    assert "办学许可证在显著位置公示且在有效期内" in page
    assert "${provides_meals} = &#x27;yes&#x27;" in page
    assert "F4" in page


def test_version_page_speaks_english_to_english_readers(
    admin: Client, published: ChecklistVersion
) -> None:
    page = admin.get(_url("checklist_version", published), HTTP_ACCEPT_LANGUAGE="en").content
    assert "Identity and licences" in page.decode()


def test_export_downloads_a_workbook_that_imports_back(
    admin: Client, published: ChecklistVersion
) -> None:
    response = admin.get(_url("checklist_export", published))
    assert 'filename="checklist-default-v1.xlsx"' in response["Content-Disposition"]
    assert import_workbook(response.content) == published.definition


# ---------------------------------------------------------------------------- writing


def test_creating_a_checklist_opens_its_empty_draft(admin: Client) -> None:
    response = admin.post(
        reverse("screening:checklist_new"), {"code": "night", "name": "夜查表", "description": ""}
    )
    template = ChecklistTemplate.objects.get(code="night")
    assert response["Location"] == reverse(
        "screening:checklist_version", kwargs={"pk": template.pk, "number": 1}
    )


def test_a_taken_code_is_shown_on_the_form(admin: Client) -> None:
    response = admin.post(reverse("screening:checklist_new"), {"code": "default", "name": "x"})
    assert response.status_code == 200
    assert _zh("The code %(code)s is taken.", code="default") in response.content.decode()


def test_adding_a_question_with_choices_one_per_line(
    admin: Client, draft: ChecklistVersion
) -> None:
    response = admin.post(
        _url("checklist_question_new", draft),
        {
            "name": "venue",
            "type": "select_one",
            "label": "场所",
            "choices": "shop|商铺|Shop\nflat|住宅|Flat|flag\n",
            "evidence": "photo",
            "violation_types": "F2",
            "required": "on",
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    venue = draft.definition["questions"][-1]
    assert venue["choices"] == [
        {"name": "shop", "label": "商铺", "label_en": "Shop", "flag": False},
        {"name": "flat", "label": "住宅", "label_en": "Flat", "flag": True},
    ]
    assert venue["violation_types"] == ["F2"] and venue["required"] is True


def test_an_invalid_question_is_shown_with_its_problem_and_saves_nothing(
    admin: Client, draft: ChecklistVersion
) -> None:
    before = _state()
    response = admin.post(
        _url("checklist_question_new", draft),
        {"name": "n", "type": "integer", "label": "数", "evidence": "none", "relevant": "${x} ="},
    )
    assert response.status_code == 200
    assert "relevant" in response.content.decode()
    assert _state() == before


def test_editing_a_question_shows_it_filled_in(admin: Client, draft: ChecklistVersion) -> None:
    page = admin.get(_url("checklist_question", draft, name="licence_displayed")).content.decode()
    assert "yes|是|Yes" in page and "no|否|No|flag" in page
    assert admin.get(_url("checklist_question", draft, name="nope")).status_code == 404


def test_remove_and_move_buttons_change_the_draft(admin: Client, draft: ChecklistVersion) -> None:
    admin.post(_url("checklist_question_remove", draft, name="remarks"))
    admin.post(_url("checklist_question_move", draft, name="provides_meals"), {"direction": "up"})
    draft.refresh_from_db()
    assert [q["name"] for q in draft.definition["questions"]] == [
        "provides_meals",
        "licence_displayed",
        "food_licence",
        "students_present",
    ]


def test_a_published_version_has_no_editor(admin: Client, published: ChecklistVersion) -> None:
    assert admin.get(_url("checklist_question_new", published)).status_code == 404
    assert admin.post(_url("checklist_publish", published)).status_code == 404


def test_publish_then_retire(admin: Client, draft: ChecklistVersion) -> None:
    admin.post(_url("checklist_publish", draft))
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED
    admin.post(_url("checklist_retire", draft))
    draft.refresh_from_db()
    assert draft.status == VersionStatus.RETIRED


def test_new_draft_and_deactivation_buttons(admin: Client, published: ChecklistVersion) -> None:
    pk = published.template_id
    response = admin.post(reverse("screening:checklist_draft", kwargs={"pk": pk}))
    assert response["Location"].endswith(f"/checklists/{pk}/v/2/")
    admin.post(reverse("screening:checklist_active", kwargs={"pk": pk}), {"is_active": "0"})
    assert ChecklistTemplate.objects.get(pk=pk).is_active is False


def test_draft_details_are_saved(admin: Client, draft: ChecklistVersion) -> None:
    admin.post(
        _url("checklist_details", draft), {"title": "新标题", "title_en": "New", "notes": "改了"}
    )
    draft.refresh_from_db()
    assert (draft.definition["title"], draft.notes) == ("新标题", "改了")


def _upload(data: bytes, name: str) -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = name
    return file


def test_import_page_documents_the_supported_subset(
    admin: Client, published: ChecklistVersion
) -> None:
    page = admin.get(
        reverse("screening:checklist_import", kwargs={"pk": published.template_id})
    ).content.decode()
    for term in ("bihuan_flag", "bihuan_violation_types", "geopoint", "begin group"):
        assert term in page


def test_importing_a_workbook_fills_the_draft(admin: Client, draft: ChecklistVersion) -> None:
    default = ChecklistVersion.objects.get(template__code="default")
    response = admin.post(
        reverse("screening:checklist_import", kwargs={"pk": draft.template_id}),
        {"file": _upload(export_workbook(default.definition), "default.xlsx")},
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.definition == default.definition


def _broken_workbook() -> bytes:
    book = Workbook()
    sheet: Any = book.active
    sheet.title = "survey"
    for row in (["type", "name", "label"], ["text", "remarks", "备注"], ["rank", "order", "排序"]):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_bad_workbook_lists_its_rows_and_saves_nothing(
    admin: Client, draft: ChecklistVersion
) -> None:
    before = _state()
    response = admin.post(
        reverse("screening:checklist_import", kwargs={"pk": draft.template_id}),
        {"file": _upload(_broken_workbook(), "broken.xlsx")},
    )
    assert response.status_code == 200
    row = _zh("survey row %(row)d", row=3)
    expected = _zh("%(where)s: unknown type “%(type)s”", where=row, type="rank")
    assert escape(expected) in response.content.decode()
    assert _state() == before


def test_a_gbk_text_file_is_refused_with_a_clear_message(
    admin: Client, draft: ChecklistVersion
) -> None:
    before = _state()
    response = admin.post(
        reverse("screening:checklist_import", kwargs={"pk": draft.template_id}),
        {"file": _upload("type,name\ntext,备注\n".encode("gbk"), "表.csv")},
    )
    assert response.status_code == 200
    expected = _zh(
        "“%(name)s” is not an Excel workbook (.xlsx). Text and CSV files, in GBK or "
        "any other encoding, cannot be imported: open the file in Excel and save it "
        "as .xlsx.",
        name="表.csv",
    )
    assert escape(expected) in response.content.decode()
    assert _state() == before


# ---------------------------------------------------------------------------- refusals

WRITES = [
    ("checklist_new", None, {"code": "x", "name": "x"}),
    ("checklist_draft", "template", {}),
    ("checklist_active", "template", {"is_active": "0"}),
    ("checklist_import", "template", {}),
    ("checklist_publish", "draft", {}),
    ("checklist_retire", "published", {}),
    ("checklist_details", "draft", {"title": "t", "title_en": "", "notes": ""}),
    ("checklist_question_new", "draft", {"name": "x", "type": "text", "label": "X"}),
    ("checklist_question", "draft:remarks", {"name": "x", "type": "text", "label": "X"}),
    ("checklist_question_remove", "draft:remarks", {}),
    ("checklist_question_move", "draft:remarks", {"direction": "up"}),
]


def _write_url(name: str, target: str | None, draft: ChecklistVersion) -> str:
    published = ChecklistVersion.objects.get(template__code="default", number=1)
    if target is None:
        return reverse(f"screening:{name}")
    if target == "template":
        return reverse(f"screening:{name}", kwargs={"pk": published.template_id})
    if target == "published":
        return _url(name, published)
    if target.startswith("draft:"):
        return _url(name, draft, name=target.split(":")[1])
    return _url(name, draft)


@pytest.mark.parametrize(("name", "target", "data"), WRITES, ids=[w[0] for w in WRITES])
@pytest.mark.parametrize("persona", READERS + OUTSIDERS)
def test_refused_writes_are_404_and_change_nothing(
    client: Client,
    request: pytest.FixtureRequest,
    draft: ChecklistVersion,
    persona: str,
    name: str,
    target: str | None,
    data: dict[str, str],
) -> None:
    url = _write_url(name, target, draft)
    other = _as(client, request, persona)
    before = _state()
    assert other.post(url, data).status_code == 404
    assert _state() == before


@pytest.mark.parametrize(("name", "target", "data"), WRITES, ids=[w[0] for w in WRITES])
def test_strangers_cannot_write(
    client: Client, draft: ChecklistVersion, name: str, target: str | None, data: dict[str, str]
) -> None:
    before = _state()
    response = client.post(_write_url(name, target, draft), data)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert _state() == before
