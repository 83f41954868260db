"""Pages of the checklist templates: list, versions, a draft's editor, import, export, publish.

System administrators (CHECKLIST_MANAGE) author; coordinators and supervisors (ROUND_MANAGE) read
the published and retired versions. Anything else is a 404, like every out-of-scope record.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from bihuan.accounts.policies import Capability, can
from bihuan.core.errors import ServiceError
from bihuan.core.exports import XLSX_TYPE, xlsx_response
from bihuan.core.forms import flash_form_errors
from bihuan.screening import checklist_services as services
from bihuan.screening.checklists import (
    choice_label,
    constraint_message,
    definition_title,
    group_label,
    question_hint,
    question_label,
)
from bihuan.screening.forms_checklists import (
    EVIDENCE_LABELS,
    TYPE_LABELS,
    DraftDetailsForm,
    ImportForm,
    QuestionForm,
    TemplateCreateForm,
)
from bihuan.screening.models import ChecklistTemplate, ChecklistVersion
from bihuan.screening.selectors import (
    checklist_templates_visible_to,
    checklist_versions_visible_to,
)
from bihuan.screening.workflow import VersionStatus
from bihuan.screening.xlsform import XLSFormError, export_workbook


def _require_manage(request: HttpRequest) -> None:
    if not can(request.user, Capability.CHECKLIST_MANAGE):
        raise Http404


def _template(request: HttpRequest, pk: int) -> ChecklistTemplate:
    return get_object_or_404(checklist_templates_visible_to(request.user), pk=pk)


def _version(request: HttpRequest, pk: int, number: int) -> ChecklistVersion:
    return get_object_or_404(
        checklist_versions_visible_to(request.user).select_related("template"),
        template_id=pk,
        number=number,
    )


def _draft(request: HttpRequest, pk: int, number: int) -> ChecklistVersion:
    _require_manage(request)
    version = _version(request, pk, number)
    if version.status != VersionStatus.DRAFT:
        raise Http404
    return version


def _to_version(version: ChecklistVersion) -> HttpResponse:
    return redirect("screening:checklist_version", pk=version.template_id, number=version.number)


@login_required
def checklist_list(request: HttpRequest) -> HttpResponse:
    """Every checklist with its versions, for authors and for those who open rounds."""
    if not (
        can(request.user, Capability.CHECKLIST_MANAGE) or can(request.user, Capability.ROUND_MANAGE)
    ):
        raise Http404
    versions = checklist_versions_visible_to(request.user).defer("definition").order_by("-number")
    templates = list(
        checklist_templates_visible_to(request.user)
        .order_by("code")
        .prefetch_related(Prefetch("versions", queryset=versions, to_attr="shown_versions"))
    )
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            "checklists.xlsx",
            [_("Code"), _("Name"), _("Active"), _("Versions"), _("Published")],
            (
                (
                    t.code,
                    t.name,
                    t.is_active,
                    len(t.shown_versions),  # type: ignore[attr-defined]
                    " ".join(
                        f"v{v.number}"
                        for v in t.shown_versions  # type: ignore[attr-defined]
                        if v.status == VersionStatus.PUBLISHED
                    ),
                )
                for t in templates
            ),
        )
    return render(
        request,
        "screening/checklists/list.html",
        {"templates": templates, "can_manage": can(request.user, Capability.CHECKLIST_MANAGE)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def checklist_new(request: HttpRequest) -> HttpResponse:
    """Start a checklist: its code and name, with an empty draft to fill or import into."""
    _require_manage(request)
    form = TemplateCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.template_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Checklist created with an empty draft."))
            return redirect("screening:checklist_version", pk=template.pk, number=1)
    return render(request, "screening/checklists/new.html", {"form": form})


@login_required
def checklist_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One checklist: its versions and what can be done with them."""
    template = _template(request, pk)
    versions = list(
        checklist_versions_visible_to(request.user)
        .filter(template=template)
        .select_related("published_by")
        .order_by("-number")
    )
    for v in versions:
        v.question_count = len(v.definition.get("questions", []))  # type: ignore[attr-defined]
    return render(
        request,
        "screening/checklists/detail.html",
        {
            "template": template,
            "versions": versions,
            "can_manage": can(request.user, Capability.CHECKLIST_MANAGE),
            "has_draft": any(v.status == VersionStatus.DRAFT for v in versions),
        },
    )


def _question_rows(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions as the version page lists them, grouped, in the user's language."""
    groups = []
    questions = definition.get("questions", [])
    for _code, members in groupby(enumerate(questions), key=lambda iq: iq[1].get("group", "")):
        rows = []
        for index, q in members:
            rows.append(
                {
                    "q": q,
                    "index": index,
                    "label": question_label(q),
                    "hint": question_hint(q),
                    "type": TYPE_LABELS.get(q["type"], q["type"]),
                    "evidence": EVIDENCE_LABELS.get(q.get("evidence", "none"), ""),
                    "constraint_message": constraint_message(q) if q.get("constraint") else "",
                    "choices": [(c, choice_label(c)) for c in q.get("choices", [])],
                    "first": index == 0,
                    "last": index == len(questions) - 1,
                }
            )
        groups.append({"label": group_label(rows[0]["q"]), "rows": rows})
    return groups


@login_required
def checklist_version(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """One version's questions, grouped, with their type, logic, flags and suggested types."""
    version = _version(request, pk, number)
    can_manage = can(request.user, Capability.CHECKLIST_MANAGE)
    editable = can_manage and version.status == VersionStatus.DRAFT
    details = None
    if editable:
        details = DraftDetailsForm(
            initial={
                "title": version.definition.get("title", ""),
                "title_en": version.definition.get("title_en", ""),
                "notes": version.notes,
            }
        )
    return render(
        request,
        "screening/checklists/version.html",
        {
            "template": version.template,
            "version": version,
            "title": definition_title(version.definition),
            "groups": _question_rows(version.definition),
            "can_manage": can_manage,
            "editable": editable,
            "details": details,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def checklist_question(
    request: HttpRequest, pk: int, number: int, name: str | None = None
) -> HttpResponse:
    """Add a question to a draft, or edit one."""
    version = _draft(request, pk, number)
    existing = None
    if name is not None:
        existing = next(
            (q for q in version.definition.get("questions", []) if q["name"] == name), None
        )
        if existing is None:
            raise Http404
    if request.method == "POST":
        form = QuestionForm(request.POST)
        if form.is_valid():
            try:
                services.draft_question_save(
                    actor=request.user,
                    version=version,
                    question=form.question(),
                    original_name=name,
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Question saved."))
                return _to_version(version)
    else:
        form = QuestionForm.for_question(existing) if existing else QuestionForm()
    return render(
        request,
        "screening/checklists/question_form.html",
        {"template": version.template, "version": version, "form": form, "name": name},
    )


def _post_action(
    request: HttpRequest, version: ChecklistVersion, action: Callable[[], Any], done: str
) -> HttpResponse:
    try:
        action()
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return _to_version(version)


@login_required
@require_POST
def checklist_question_remove(
    request: HttpRequest, pk: int, number: int, name: str
) -> HttpResponse:
    """Take a question out of a draft."""
    version = _draft(request, pk, number)
    return _post_action(
        request,
        version,
        lambda: services.draft_question_remove(actor=request.user, version=version, name=name),
        _("Question removed."),
    )


@login_required
@require_POST
def checklist_question_move(request: HttpRequest, pk: int, number: int, name: str) -> HttpResponse:
    """Move a question of a draft up or down."""
    version = _draft(request, pk, number)
    direction = request.POST.get("direction", "")
    return _post_action(
        request,
        version,
        lambda: services.draft_question_move(
            actor=request.user, version=version, name=name, direction=direction
        ),
        _("Question moved."),
    )


@login_required
@require_POST
def checklist_details(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Save a draft's titles and its note on what changed."""
    version = _draft(request, pk, number)
    form = DraftDetailsForm(request.POST)
    if not form.is_valid():
        flash_form_errors(request, form)
        return _to_version(version)
    return _post_action(
        request,
        version,
        lambda: services.draft_details_save(
            actor=request.user, version=version, **form.cleaned_data
        ),
        _("Details saved."),
    )


@login_required
@require_POST
def checklist_publish(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Publish a draft."""
    version = _draft(request, pk, number)
    return _post_action(
        request,
        version,
        lambda: services.version_publish(actor=request.user, version=version),
        _("Version %(n)d published.") % {"n": version.number},
    )


@login_required
@require_POST
def checklist_retire(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Retire a published version."""
    _require_manage(request)
    version = _version(request, pk, number)
    return _post_action(
        request,
        version,
        lambda: services.version_retire(actor=request.user, version=version),
        _("Version %(n)d retired.") % {"n": version.number},
    )


@login_required
@require_POST
def checklist_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a new draft from the latest version."""
    _require_manage(request)
    template = _template(request, pk)
    try:
        draft = services.version_draft(actor=request.user, template=template)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("screening:checklist_detail", pk=template.pk)
    messages.success(request, _("Draft %(n)d started.") % {"n": draft.number})
    return _to_version(draft)


@login_required
@require_POST
def checklist_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Offer the checklist to new rounds, or stop offering it."""
    _require_manage(request)
    template = _template(request, pk)
    is_active = request.POST.get("is_active") == "1"
    try:
        services.template_set_active(actor=request.user, template=template, is_active=is_active)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("Checklist activated.") if is_active else _("Checklist deactivated.")
        )
    return redirect("screening:checklist_detail", pk=template.pk)


@login_required
@require_http_methods(["GET", "POST"])
def checklist_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a workbook as the checklist's draft; every row error is listed, nothing is saved."""
    _require_manage(request)
    template = _template(request, pk)
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            draft = services.version_import(
                actor=request.user, template=template, data=upload.read(), filename=upload.name
            )
        except XLSFormError as exc:
            errors = exc.errors
        except ServiceError as exc:
            errors = [exc.message]
        else:
            messages.success(
                request,
                _("%(n)d questions imported into draft %(v)d.")
                % {"n": len(draft.definition["questions"]), "v": draft.number},
            )
            return _to_version(draft)
    return render(
        request,
        "screening/checklists/import.html",
        {"template": template, "form": form, "errors": errors},
    )


@login_required
def checklist_export(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """A version as an XLSForm-style workbook that imports back to the same questions."""
    version = _version(request, pk, number)
    response = HttpResponse(export_workbook(version.definition), content_type=XLSX_TYPE)
    filename = f"checklist-{version.template.code}-v{version.number}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
