"""Checklist services: authoring a draft, importing, publishing and retiring, and who may."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import translation

from bihuan.accounts.models import User
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.screening import checklist_services as services
from bihuan.screening.checklists import DefinitionError
from bihuan.screening.models import ChecklistTemplate, ChecklistVersion
from bihuan.screening.tests import factories as f
from bihuan.screening.tests.factories import SIMPLE
from bihuan.screening.workflow import VersionStatus
from bihuan.screening.xlsform import XLSFormError, export_workbook

pytestmark = pytest.mark.django_db

PERSONAS = [
    "admin_security",
    "admin_audit",
    "supervisor_city",
    "supervisor_xiaonan",
    "coordinator_wenchang",
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


def _names(version: ChecklistVersion) -> list[str]:
    version.refresh_from_db()
    return [q["name"] for q in version.definition["questions"]]


def _verbs() -> list[str]:
    return list(
        Event.objects.filter(verb__startswith="checklist.")
        .order_by("pk")
        .values_list("verb", flat=True)
    )


def test_a_new_template_starts_with_an_empty_draft(admin_system: User) -> None:
    template = services.template_create(actor=admin_system, code="blank", name="空白表")
    version = template.versions.get()
    assert (version.number, version.status) == (1, VersionStatus.DRAFT)
    assert version.definition["questions"] == []
    assert version.created_by == admin_system
    assert _verbs() == ["checklist.created"]


def test_a_template_code_is_unique(admin_system: User) -> None:
    with pytest.raises(ServiceError, match="taken"):
        services.template_create(actor=admin_system, code="default", name="重复")


def test_a_template_code_is_a_slug(admin_system: User) -> None:
    with pytest.raises(ServiceError):
        services.template_create(actor=admin_system, code="不行 code", name="名字")
    assert not ChecklistTemplate.objects.filter(name="名字").exists()


def test_a_question_is_added_at_a_position(admin_system: User, draft: ChecklistVersion) -> None:
    question = {"name": "hours_ok", "type": "yes_no_na", "label": "培训时间合规"}
    services.draft_question_save(actor=admin_system, version=draft, question=question, position=1)
    assert _names(draft)[:3] == ["licence_displayed", "hours_ok", "provides_meals"]
    assert draft.definition["questions"][1]["choices"][0]["name"] == "yes"
    assert _verbs()[-1] == "checklist.question_saved"


def test_an_edit_replaces_the_question_in_place(
    admin_system: User, draft: ChecklistVersion
) -> None:
    edited = dict(draft.definition["questions"][3], name="pupils", constraint=". <= 50")
    services.draft_question_save(
        actor=admin_system, version=draft, question=edited, original_name="students_present"
    )
    assert _names(draft)[3] == "pupils"
    assert draft.definition["questions"][3]["constraint_ast"] == ["<=", ["self"], ["lit", 50]]


def test_an_invalid_question_leaves_the_draft_unchanged(
    admin_system: User, draft: ChecklistVersion
) -> None:
    before = copy.deepcopy(draft.definition)
    with pytest.raises(DefinitionError, match="no question is named"):
        services.draft_question_save(
            actor=admin_system,
            version=draft,
            question={"name": "x", "type": "text", "label": "X", "relevant": "${nope} = 1"},
        )
    draft.refresh_from_db()
    assert draft.definition == before


def test_a_question_read_by_another_cannot_be_removed(
    admin_system: User, draft: ChecklistVersion
) -> None:
    with pytest.raises(DefinitionError, match="provides_meals"):
        services.draft_question_remove(actor=admin_system, version=draft, name="provides_meals")
    services.draft_question_remove(actor=admin_system, version=draft, name="remarks")
    assert "remarks" not in _names(draft)


def test_questions_move_up_and_down_but_not_past_the_ends(
    admin_system: User, draft: ChecklistVersion
) -> None:
    services.draft_question_move(
        actor=admin_system, version=draft, name="provides_meals", direction="up"
    )
    assert _names(draft)[:2] == ["provides_meals", "licence_displayed"]
    with pytest.raises(ServiceError, match="already first"):
        services.draft_question_move(
            actor=admin_system, version=draft, name="provides_meals", direction="up"
        )
    with pytest.raises(ServiceError, match="already last"):
        services.draft_question_move(
            actor=admin_system, version=draft, name="remarks", direction="down"
        )


def test_publishing_freezes_the_version(admin_system: User, draft: ChecklistVersion) -> None:
    services.version_publish(actor=admin_system, version=draft)
    draft.refresh_from_db()
    assert draft.status == VersionStatus.PUBLISHED
    assert draft.published_by == admin_system and draft.published_at is not None
    with pytest.raises(ServiceError, match="Only a draft"):
        services.draft_question_remove(actor=admin_system, version=draft, name="remarks")
    with pytest.raises(ServiceError, match="cannot become"):
        services.version_publish(actor=admin_system, version=draft)


def test_an_empty_draft_cannot_be_published(admin_system: User) -> None:
    template = services.template_create(actor=admin_system, code="blank", name="空白表")
    with pytest.raises(ServiceError, match="at least one question"):
        services.version_publish(actor=admin_system, version=template.versions.get())
    assert template.versions.get().status == VersionStatus.DRAFT


def test_publishing_checks_the_violation_types_again(
    admin_system: User, draft: ChecklistVersion
) -> None:
    from bihuan.leads.models import ViolationType

    ViolationType.objects.filter(code="F4").update(is_active=False)
    with pytest.raises(DefinitionError, match="F4"):
        services.version_publish(actor=admin_system, version=draft)
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT


def test_only_a_published_version_is_retired(admin_system: User, draft: ChecklistVersion) -> None:
    with pytest.raises(ServiceError, match="cannot become"):
        services.version_retire(actor=admin_system, version=draft)
    services.version_publish(actor=admin_system, version=draft)
    services.version_retire(actor=admin_system, version=draft)
    draft.refresh_from_db()
    assert draft.status == VersionStatus.RETIRED
    assert _verbs()[-2:] == ["checklist.published", "checklist.retired"]


def test_a_new_draft_copies_the_latest_version_once(admin_system: User) -> None:
    template = ChecklistTemplate.objects.get(code="default")
    draft = services.version_draft(actor=admin_system, template=template)
    assert (draft.number, draft.status) == (2, VersionStatus.DRAFT)
    assert draft.definition == template.versions.get(number=1).definition
    with pytest.raises(ServiceError, match="already has a draft"):
        services.version_draft(actor=admin_system, template=template)


def test_import_replaces_the_drafts_questions(admin_system: User, draft: ChecklistVersion) -> None:
    default = ChecklistVersion.objects.get(template__code="default")
    imported = services.version_import(
        actor=admin_system,
        template=draft.template,
        data=export_workbook(default.definition),
        filename="默认.xlsx",
    )
    assert imported.pk == draft.pk
    draft.refresh_from_db()
    assert draft.definition == default.definition
    assert draft.source_name == "默认.xlsx"


def test_import_without_a_draft_starts_one(admin_system: User) -> None:
    template = ChecklistTemplate.objects.get(code="default")
    imported = services.version_import(
        actor=admin_system, template=template, data=export_workbook(SIMPLE), filename="s.xlsx"
    )
    assert (imported.number, imported.status) == (2, VersionStatus.DRAFT)
    assert imported.definition == SIMPLE


def test_a_bad_workbook_saves_nothing(admin_system: User, draft: ChecklistVersion) -> None:
    before = (copy.deepcopy(draft.definition), Event.objects.count())
    with pytest.raises(XLSFormError):
        services.version_import(
            actor=admin_system, template=draft.template, data=b"not a workbook", filename="x.csv"
        )
    draft.refresh_from_db()
    assert (draft.definition, Event.objects.count()) == before


def test_deactivating_a_template_is_recorded(admin_system: User) -> None:
    template = ChecklistTemplate.objects.get(code="default")
    services.template_set_active(actor=admin_system, template=template, is_active=False)
    template.refresh_from_db()
    assert template.is_active is False
    with pytest.raises(ServiceError, match="already inactive"):
        services.template_set_active(actor=admin_system, template=template, is_active=False)
    assert _verbs() == ["checklist.deactivated"]


def _state() -> tuple[Any, ...]:
    return (
        list(ChecklistTemplate.objects.order_by("pk").values()),
        list(ChecklistVersion.objects.order_by("pk").values()),
        Event.objects.count(),
    )


WRITES: dict[str, Callable[[User, ChecklistVersion], Any]] = {
    "template_create": lambda u, v: services.template_create(actor=u, code="x", name="x"),
    "template_set_active": lambda u, v: services.template_set_active(
        actor=u, template=v.template, is_active=False
    ),
    "version_draft": lambda u, v: services.version_draft(
        actor=u, template=ChecklistTemplate.objects.get(code="default")
    ),
    "draft_question_save": lambda u, v: services.draft_question_save(
        actor=u, version=v, question={"name": "x", "type": "text", "label": "X"}
    ),
    "draft_question_remove": lambda u, v: services.draft_question_remove(
        actor=u, version=v, name="remarks"
    ),
    "draft_question_move": lambda u, v: services.draft_question_move(
        actor=u, version=v, name="remarks", direction="up"
    ),
    "draft_details_save": lambda u, v: services.draft_details_save(
        actor=u, version=v, title="t", title_en="t", notes="n"
    ),
    "version_import": lambda u, v: services.version_import(
        actor=u, template=v.template, data=export_workbook(SIMPLE), filename="s.xlsx"
    ),
    "version_publish": lambda u, v: services.version_publish(actor=u, version=v),
    "version_retire": lambda u, v: services.version_retire(
        actor=u, version=ChecklistVersion.objects.get(template__code="default")
    ),
}


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("persona", PERSONAS)
def test_only_system_administrators_write_checklists(
    request: pytest.FixtureRequest, draft: ChecklistVersion, persona: str, write: str
) -> None:
    user = request.getfixturevalue(persona)
    before = _state()
    with pytest.raises(NotAllowed):
        WRITES[write](user, draft)
    assert _state() == before


@pytest.mark.parametrize("write", list(WRITES))
def test_the_system_administrator_may_make_every_write(
    admin_system: User, draft: ChecklistVersion, write: str
) -> None:
    before = Event.objects.count()
    WRITES[write](admin_system, draft)
    assert Event.objects.count() == before + 1
