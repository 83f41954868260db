"""Writes to checklist templates and their versions: authoring a draft, importing, publishing.

Every function needs CHECKLIST_MANAGE (``actor=None`` is the system itself, as in the other
apps), locks what it changes, validates the whole definition after each edit of a draft, and
records an event. A published version never changes again (workflow.VERSION_MOVES): it can only
be retired, and a change is made in a new draft copied from it.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.screening.checklists import validate_definition
from bihuan.screening.models import ChecklistTemplate, ChecklistVersion
from bihuan.screening.workflow import VERSION_MOVES, VersionStatus
from bihuan.screening.xlsform import import_workbook

TEMPLATE_FIELDS = ["code", "name", "description", "is_active"]
VERSION_FIELDS = ["number", "status", "notes", "source_name", "published_at", "published_by"]
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
NAME_MAX = ChecklistTemplate._meta.get_field("name").max_length or 100
NOTES_MAX = ChecklistVersion._meta.get_field("notes").max_length or 500
SOURCE_MAX = ChecklistVersion._meta.get_field("source_name").max_length or 200


def _require_manage(actor: Any) -> None:
    if actor is not None and not can(actor, Capability.CHECKLIST_MANAGE):
        raise NotAllowed(_("Your roles do not allow this change."))


def _empty_definition(template: ChecklistTemplate) -> dict[str, Any]:
    return {
        "title": template.name,
        "title_en": "",
        "form_id": template.code,
        "version": "",
        "questions": [],
    }


def _locked_draft(version: ChecklistVersion) -> ChecklistVersion:
    locked = ChecklistVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status != VersionStatus.DRAFT:
        raise ServiceError(_("Only a draft can be changed; start a new draft instead."))
    return locked


def _move(locked: ChecklistVersion, to: str) -> None:
    if to not in VERSION_MOVES[locked.status]:
        raise ServiceError(
            _("A %(status)s version cannot become %(to)s.")
            % {"status": locked.get_status_display(), "to": VersionStatus(to).label}
        )


def _save_definition(
    actor: Any, locked: ChecklistVersion, definition: dict[str, Any], verb: str, detail: dict
) -> ChecklistVersion:
    """Validate the whole definition, store it and record what was done to it."""
    locked.definition = validate_definition(definition)
    locked.save(update_fields=["definition"])
    event_record(actor=actor, verb=verb, obj=locked, after=detail)
    return locked


@transaction.atomic
def template_create(
    *,
    actor: Any,
    code: str,
    name: str,
    description: str = "",
    definition: dict[str, Any] | None = None,
) -> ChecklistTemplate:
    """A new checklist with version 1 as a draft, empty or holding ``definition``."""
    _require_manage(actor)
    code = (code or "").strip().lower()
    if not CODE_RE.match(code):
        raise ServiceError(
            _("A code uses lower-case letters, digits, - and _ (at most 50)."), field="code"
        )
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ServiceError(_("A name of 1 to %(n)d characters is required.") % {"n": NAME_MAX})
    template = ChecklistTemplate(
        code=code,
        name=name,
        description=(description or "").strip(),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    clean = validate_definition(definition or _empty_definition(template))
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ServiceError(
            _("The code %(code)s is taken.") % {"code": code}, field="code"
        ) from None
    version = ChecklistVersion.objects.create(
        template=template, number=1, definition=clean, created_by=template.created_by
    )
    event_record(
        actor=actor,
        verb="checklist.created",
        obj=template,
        after={**snapshot(template, TEMPLATE_FIELDS), "draft": version.number},
    )
    return template


@transaction.atomic
def template_set_active(
    *, actor: Any, template: ChecklistTemplate, is_active: bool
) -> ChecklistTemplate:
    """Offer the checklist to new rounds again, or stop offering it (running rounds keep it)."""
    _require_manage(actor)
    locked = ChecklistTemplate.objects.select_for_update().get(pk=template.pk)
    if locked.is_active == is_active:
        raise ServiceError(
            _("The checklist is already active.")
            if is_active
            else _("The checklist is already inactive.")
        )
    before = snapshot(locked, TEMPLATE_FIELDS)
    locked.is_active = is_active
    locked.save(update_fields=["is_active"])
    event_record(
        actor=actor,
        verb="checklist.activated" if is_active else "checklist.deactivated",
        obj=locked,
        before=before,
        after=snapshot(locked, TEMPLATE_FIELDS),
    )
    return locked


def _new_draft(
    actor: Any, template: ChecklistTemplate, definition: dict[str, Any], source_name: str = ""
) -> ChecklistVersion:
    """The next version number as a draft; the caller holds the template's lock."""
    if template.versions.filter(status=VersionStatus.DRAFT).exists():
        raise ServiceError(_("This checklist already has a draft; edit or publish it first."))
    number = (template.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    try:
        with transaction.atomic():
            return ChecklistVersion.objects.create(
                template=template,
                number=number,
                definition=definition,
                source_name=source_name[:SOURCE_MAX],
                created_by=actor if getattr(actor, "pk", None) else None,
            )
    except IntegrityError:
        raise ServiceError(
            _("This checklist already has a draft; edit or publish it first.")
        ) from None


@transaction.atomic
def version_draft(*, actor: Any, template: ChecklistTemplate) -> ChecklistVersion:
    """A new draft copying the latest version, to change a checklist that was published."""
    _require_manage(actor)
    locked = ChecklistTemplate.objects.select_for_update().get(pk=template.pk)
    latest = locked.versions.order_by("-number").first()
    definition = copy.deepcopy(latest.definition) if latest else _empty_definition(locked)
    draft = _new_draft(actor, locked, definition)
    event_record(
        actor=actor,
        verb="checklist.drafted",
        obj=draft,
        after={"number": draft.number, "copied_from": latest.number if latest else None},
    )
    return draft


@transaction.atomic
def draft_details_save(
    *, actor: Any, version: ChecklistVersion, title: str, title_en: str, notes: str
) -> ChecklistVersion:
    """The draft's titles and its note on what changed."""
    _require_manage(actor)
    locked = _locked_draft(version)
    definition = dict(locked.definition, title=title, title_en=title_en)
    locked.notes = (notes or "").strip()[:NOTES_MAX]
    locked.save(update_fields=["notes"])
    return _save_definition(
        actor,
        locked,
        definition,
        "checklist.details_saved",
        {"title": title, "title_en": title_en, "notes": locked.notes},
    )


@transaction.atomic
def draft_question_save(
    *,
    actor: Any,
    version: ChecklistVersion,
    question: dict[str, Any],
    original_name: str | None = None,
    position: int | None = None,
) -> ChecklistVersion:
    """Add a question to a draft (at ``position``, else last) or replace ``original_name``."""
    _require_manage(actor)
    locked = _locked_draft(version)
    questions = list(locked.definition.get("questions", []))
    names = [q["name"] for q in questions]
    if original_name is not None:
        if original_name not in names:
            raise ServiceError(_("The question %(name)s is gone.") % {"name": original_name})
        index = names.index(original_name)
        before = questions[index]
        questions[index] = question
    else:
        before = None
        index = len(questions) if position is None else max(0, min(position, len(questions)))
        questions.insert(index, question)
    _save_definition(
        actor,
        locked,
        dict(locked.definition, questions=questions),
        "checklist.question_saved",
        {"question": question.get("name"), "before": before, "position": index},
    )
    return locked


@transaction.atomic
def draft_question_remove(*, actor: Any, version: ChecklistVersion, name: str) -> ChecklistVersion:
    """Take a question out of a draft (refused while another question's logic reads it)."""
    _require_manage(actor)
    locked = _locked_draft(version)
    questions = list(locked.definition.get("questions", []))
    kept = [q for q in questions if q["name"] != name]
    if len(kept) == len(questions):
        raise ServiceError(_("The question %(name)s is gone.") % {"name": name})
    removed = next(q for q in questions if q["name"] == name)
    return _save_definition(
        actor,
        locked,
        dict(locked.definition, questions=kept),
        "checklist.question_removed",
        {"question": name, "before": removed},
    )


@transaction.atomic
def draft_question_move(
    *, actor: Any, version: ChecklistVersion, name: str, direction: str
) -> ChecklistVersion:
    """Move a question of a draft one place up or down."""
    _require_manage(actor)
    if direction not in ("up", "down"):
        raise ServiceError(_("Move a question up or down."))
    locked = _locked_draft(version)
    questions = list(locked.definition.get("questions", []))
    names = [q["name"] for q in questions]
    if name not in names:
        raise ServiceError(_("The question %(name)s is gone.") % {"name": name})
    index = names.index(name)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(questions):
        raise ServiceError(
            _("The question is already first.")
            if direction == "up"
            else _("The question is already last.")
        )
    questions[index], questions[other] = questions[other], questions[index]
    return _save_definition(
        actor,
        locked,
        dict(locked.definition, questions=questions),
        "checklist.question_moved",
        {"question": name, "from": index, "to": other},
    )


@transaction.atomic
def version_import(
    *, actor: Any, template: ChecklistTemplate, data: bytes, filename: str
) -> ChecklistVersion:
    """A workbook's questions as the draft (replacing its questions, or as a new draft).

    The workbook is read and validated before anything is written: any error refuses it all.
    """
    _require_manage(actor)
    definition = import_workbook(data, filename)
    locked_template = ChecklistTemplate.objects.select_for_update().get(pk=template.pk)
    draft = locked_template.versions.filter(status=VersionStatus.DRAFT).first()
    if draft is None:
        draft = _new_draft(actor, locked_template, definition, filename)
        replaced = False
    else:
        draft = _locked_draft(draft)
        draft.definition = definition
        draft.source_name = filename[:SOURCE_MAX]
        draft.save(update_fields=["definition", "source_name"])
        replaced = True
    event_record(
        actor=actor,
        verb="checklist.imported",
        obj=draft,
        after={
            "number": draft.number,
            "file": filename,
            "questions": len(definition["questions"]),
            "replaced_draft": replaced,
        },
    )
    return draft


@transaction.atomic
def version_publish(*, actor: Any, version: ChecklistVersion) -> ChecklistVersion:
    """Publish a draft: from now on rounds may use it and it never changes again."""
    _require_manage(actor)
    locked = ChecklistVersion.objects.select_for_update().get(pk=version.pk)
    _move(locked, VersionStatus.PUBLISHED)
    # Checked again: a violation type may have been deactivated since the last edit.
    locked.definition = validate_definition(locked.definition)
    if not locked.definition["questions"]:
        raise ServiceError(_("A checklist needs at least one question before it is published."))
    before = snapshot(locked, VERSION_FIELDS)
    locked.status = VersionStatus.PUBLISHED
    locked.published_at = timezone.now()
    locked.published_by = actor if getattr(actor, "pk", None) else None
    locked.save(update_fields=["definition", "status", "published_at", "published_by"])
    event_record(
        actor=actor,
        verb="checklist.published",
        obj=locked,
        before=before,
        after=snapshot(locked, VERSION_FIELDS),
    )
    return locked


@transaction.atomic
def version_retire(*, actor: Any, version: ChecklistVersion) -> ChecklistVersion:
    """Stop offering a published version to new rounds (rounds using it keep it)."""
    _require_manage(actor)
    locked = ChecklistVersion.objects.select_for_update().get(pk=version.pk)
    _move(locked, VersionStatus.RETIRED)
    before = snapshot(locked, VERSION_FIELDS)
    locked.status = VersionStatus.RETIRED
    locked.save(update_fields=["status"])
    event_record(
        actor=actor,
        verb="checklist.retired",
        obj=locked,
        before=before,
        after=snapshot(locked, VERSION_FIELDS),
    )
    return locked
