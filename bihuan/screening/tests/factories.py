"""Rows for the screening tests, written straight to the models so each module tests one thing.

``SIMPLE`` is a small checklist in the definition format (see ``checklists.py``): a licence
question flagged on "no" that asks for a photo or a note and suggests A2, a skip-logic pair, a
number with a constraint, and a general note.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.utils import timezone

from bihuan.accounts.models import User
from bihuan.demo import data
from bihuan.leads.tests.factories import city_for_module  # noqa: F401 - re-exported for tests
from bihuan.registry.models import Institution
from bihuan.screening.models import (
    ChecklistTemplate,
    ChecklistVersion,
    Inspection,
    InspectionParticipant,
    InspectionVersion,
    Round,
    Task,
    TaskItem,
)
from bihuan.screening.workflow import (
    InspectionStatus,
    RoundStatus,
    TaskKind,
    VersionStatus,
    VisitOutcome,
)
from bihuan.territory.models import Region

YES_NO_NA = [
    {"name": "yes", "label": "是", "label_en": "Yes", "flag": False},
    {"name": "no", "label": "否", "label_en": "No", "flag": True},
    {"name": "na", "label": "不适用", "label_en": "Not applicable", "flag": False},
]


def _question(name: str, qtype: str, label: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "type": qtype,
        "label": label,
        "label_en": extra.pop("label_en", label),
        "hint": "",
        "hint_en": "",
        "group": "",
        "group_label": "",
        "group_label_en": "",
        "required": True,
        "relevant": "",
        "relevant_ast": None,
        "constraint": "",
        "constraint_ast": None,
        "constraint_message": "",
        "constraint_message_en": "",
        "choices": [],
        "flag_when": "",
        "flag_ast": None,
        "evidence": "none",
        "violation_types": [],
        "major": False,
    }
    base.update(extra)
    return base


SIMPLE: dict[str, Any] = {
    "title": "测试排查表",
    "title_en": "Test checklist",
    "form_id": "test",
    "version": "1",
    "questions": [
        _question(
            "licence_displayed",
            "yes_no_na",
            "办学许可证在显著位置公示",
            label_en="School licence displayed",
            choices=YES_NO_NA,
            evidence="photo_or_note",
            violation_types=["A2"],
        ),
        _question(
            "provides_meals",
            "yes_no_na",
            "是否提供餐食",
            label_en="Meals provided",
            choices=[dict(c, flag=False) for c in YES_NO_NA],
        ),
        _question(
            "food_licence",
            "yes_no_na",
            "食品经营许可证",
            label_en="Food licence",
            choices=YES_NO_NA,
            relevant="${provides_meals} = 'yes'",
            relevant_ast=["=", ["ref", "provides_meals"], ["lit", "yes"]],
            evidence="photo",
            violation_types=["F4"],
        ),
        _question(
            "students_present",
            "integer",
            "在场学生人数",
            label_en="Students present",
            constraint=". >= 0 and . <= 500",
            constraint_ast=["and", [">=", ["self"], ["lit", 0]], ["<=", ["self"], ["lit", 500]]],
            constraint_message="人数应在0到500之间",
            constraint_message_en="Between 0 and 500",
        ),
        _question("remarks", "text", "其他情况", label_en="Other remarks", required=False),
    ],
}


def checklist(definition: dict[str, Any] | None = None, code: str = "test") -> ChecklistVersion:
    """A published version of a template made for the test."""
    template, _ = ChecklistTemplate.objects.get_or_create(code=code, defaults={"name": code})
    number = template.versions.order_by("-number").values_list("number", flat=True).first() or 0
    return ChecklistVersion.objects.create(
        template=template,
        number=number + 1,
        status=VersionStatus.PUBLISHED,
        definition=definition or SIMPLE,
        published_at=timezone.now(),
    )


def wenchang() -> Region:
    return Region.objects.get(code=data.WENCHANG)


def issued_round(
    inspector: User,
    institutions: list[Institution] | None = None,
    *,
    region: Region | None = None,
    version: ChecklistVersion | None = None,
    status: str = RoundStatus.ISSUED,
) -> Round:
    """A round of one place, one task table holding ``institutions`` (the place's by default)."""
    region = region or wenchang()
    if institutions is None:
        institutions = list(Institution.objects.filter(region=region).order_by("pk"))
    today = timezone.localdate()
    round_ = Round.objects.create(
        name=f"{region.name} {today:%Y-%m}",
        region=region,
        checklist=version or checklist(),
        starts_on=today,
        ends_on=today + datetime.timedelta(days=14),
        status=status,
        issued_at=timezone.now() if status != RoundStatus.DRAFT else None,
    )
    task = Task.objects.create(
        round=round_, inspector=inspector, kind=TaskKind.INSTITUTIONS, region=region
    )
    TaskItem.objects.bulk_create(
        TaskItem(round=round_, task=task, institution=inst, position=i)
        for i, inst in enumerate(institutions)
    )
    return round_


def submitted_inspection(
    item: TaskItem,
    *,
    values: dict[str, Any] | None = None,
    notes: dict[str, str] | None = None,
    flags: list[dict[str, Any]] | None = None,
    status: str = InspectionStatus.SUBMITTED,
) -> Inspection:
    """A submitted inspection of an item, version 1, with its inspector as the one participant."""
    task = item.task
    now = timezone.now()
    inspection = Inspection.objects.create(
        client_id=uuid.uuid4(),
        task=task,
        item=item,
        institution=item.institution,
        region=item.institution.region,
        checklist=item.round.checklist,
        inspector=task.inspector,
        status=status,
        version=1,
        visited_at=now,
        submitted_at=now,
        flag_count=len(flags or []),
    )
    InspectionVersion.objects.create(
        inspection=inspection,
        number=1,
        submission_id=uuid.uuid4(),
        answers={"values": values or {}, "notes": notes or {}},
        flags=flags or [],
        outcome=VisitOutcome.VISITED,
        participant_ids=[task.inspector_id],
        submitted_by=task.inspector,
        submitted_at=now,
    )
    InspectionParticipant.objects.create(inspection=inspection, user=task.inspector)
    return inspection
