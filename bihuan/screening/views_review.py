"""The coordinator's review pages: submissions waiting for a decision, one inspection with its
versions, and institutions found in the field.

Managers (ROUND_MANAGE) see the inspections of their places; approving and returning are offered
only for those ``inspections_reviewed_by`` the user (never one's own visit), and a POST for any
other is a 404. Each action calls one service; its refusal becomes a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bihuan.accounts.policies import Capability, can
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.leads.models import ViolationType
from bihuan.registry.models import Status as InstitutionStatus
from bihuan.screening import review_services
from bihuan.screening.forms_review import RejectForm, ReturnForm, ReviewFilterForm
from bihuan.screening.models import (
    Inspection,
    InspectionParticipant,
    InspectionPhoto,
    InspectionVersion,
    Round,
)
from bihuan.screening.review_services import answer_text
from bihuan.screening.selectors import (
    field_finds_reviewed_by,
    inspections_reviewed_by,
    inspections_visible_to,
)
from bihuan.screening.workflow import InspectionStatus
from bihuan.territory.models import Region

PAGE_SIZE = 50
EXPORT_HEADER = [
    gettext_lazy("Submitted"),
    gettext_lazy("Institution"),
    gettext_lazy("Found in the field"),
    gettext_lazy("Region code"),
    gettext_lazy("Round"),
    gettext_lazy("Inspector"),
    gettext_lazy("Version"),
    gettext_lazy("Flagged answers"),
    gettext_lazy("Distance from the address (m)"),
    gettext_lazy("Far from the address"),
]


def _require_manager(request: HttpRequest) -> None:
    if not can(request.user, Capability.ROUND_MANAGE):
        raise Http404


def _english() -> bool:
    return (get_language() or "").startswith("en")


# ---------------------------------------------------------------------------- the queue


def _export_rows(rows: QuerySet[Inspection]) -> Iterator[list[Any]]:
    for i in rows:
        yield [
            i.submitted_at,
            i.institution.name,
            i.is_field_find,
            i.region.code,
            i.task.round.name,
            str(i.inspector),
            i.version,
            i.flag_count,
            i.distance_m,
            i.is_far,
        ]


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """Submitted inspections the user may decide on, oldest first, by round and place."""
    _require_manager(request)
    form = ReviewFilterForm(request.GET)
    values = form.values()
    waiting = inspections_reviewed_by(request.user).filter(status=InspectionStatus.SUBMITTED)
    rows = waiting
    if "round" in values:
        rows = rows.filter(task__round_id=int(values["round"]))
    if "place" in values:
        place = Region.objects.filter(code=values["place"]).first()
        rows = rows.filter(place.subtree_q("region")) if place else rows.none()
    rows = rows.select_related("institution", "inspector", "region", "task__round").order_by(
        "submitted_at", "pk"
    )
    if request.GET.get("format") == "xlsx":
        return xlsx_response("review.xlsx", [str(h) for h in EXPORT_HEADER], _export_rows(rows))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "values": values,
        "rounds": Round.objects.filter(pk__in=waiting.values("task__round_id")).order_by(
            "-starts_on", "-pk"
        ),
        "places": Region.objects.filter(pk__in=waiting.values("region_id")).order_by("path"),
    }
    return render(request, "screening/review/queue.html", context)


# ---------------------------------------------------------------------------- one inspection


def _answer_rows(
    definition: dict[str, Any], version: InspectionVersion, photos: list[InspectionPhoto]
) -> list[dict[str, Any]]:
    """The checklist's groups, each with its questions' answers, flags, types and photos."""
    english = _english()
    values = (version.answers or {}).get("values", {})
    notes = (version.answers or {}).get("notes", {})
    flags = {f.get("question"): f for f in version.flags or []}
    questions = review_services.questions_by_name(definition)
    suggested = {
        name: flag.get("violation_types", questions.get(name or "", {}).get("violation_types", []))
        for name, flag in flags.items()
    }
    codes = {c for named in suggested.values() for c in named or []}
    names = dict(ViolationType.objects.filter(code__in=codes).values_list("code", "name"))
    by_question: dict[str, list[InspectionPhoto]] = {}
    for photo in photos:
        by_question.setdefault(photo.question, []).append(photo)
    groups: list[dict[str, Any]] = []
    for q in definition.get("questions", []):
        if q.get("type") == "note":
            continue  # an instruction to the inspector, nothing was answered
        name = q["name"]
        value = values.get(name)
        shown = name in values or name in notes or name in by_question or name in flags
        if not shown and q.get("relevant"):
            continue  # skipped by the checklist's logic
        group_label = (q.get("group_label_en") if english else "") or q.get("group_label") or ""
        if not groups or groups[-1]["key"] != q.get("group", ""):
            groups.append({"key": q.get("group", ""), "label": group_label, "rows": []})
        flag = flags.get(name)
        groups[-1]["rows"].append(
            {
                "name": name,
                "label": (q.get("label_en") if english else "") or q.get("label") or name,
                "answer": answer_text(q, value, english=english),
                "note": notes.get(name, ""),
                "flagged": flag is not None,
                "types": [(c, names.get(c, "")) for c in suggested.get(name) or []],
                "photos": by_question.get(name, []),
            }
        )
    return groups


def _changes(
    definition: dict[str, Any], old: InspectionVersion, new: InspectionVersion
) -> list[tuple[str, str, str]]:
    """(question, before, after) for every answer or note that differs between two versions."""
    english = _english()
    questions = review_services.questions_by_name(definition)
    changed: list[tuple[str, str, str]] = []
    if old.outcome != new.outcome:
        changed.append((_("Outcome"), old.get_outcome_display(), new.get_outcome_display()))
    for part in ("values", "notes"):
        before = (old.answers or {}).get(part, {})
        after = (new.answers or {}).get(part, {})
        order = [q for q in questions if q in before or q in after]
        order += sorted((set(before) | set(after)) - set(order))
        for name in order:
            if before.get(name) == after.get(name):
                continue
            q = questions.get(name)
            label = ((q or {}).get("label_en") if english else "") or (q or {}).get("label") or name
            if part == "notes":
                label = _("%(question)s (note)") % {"question": label}
                shown = (str(before.get(name) or ""), str(after.get(name) or ""))
            else:
                shown = (
                    answer_text(q, before.get(name), english=english),
                    answer_text(q, after.get(name), english=english),
                )
            changed.append((label, shown[0] or "—", shown[1] or "—"))
    if old.note != new.note:
        changed.append((_("Note"), old.note or "—", new.note or "—"))
    return changed


def _detail_context(request: HttpRequest, inspection: Inspection) -> dict[str, Any]:
    definition = inspection.checklist.definition or {}
    versions = list(inspection.versions.select_related("submitted_by").order_by("number"))
    current = next((v for v in versions if v.number == inspection.version), None)
    history = [
        {"version": v, "changes": _changes(definition, prev, v) if prev else []}
        for prev, v in zip([None, *versions[:-1]], versions, strict=True)
    ]
    photos = (
        list(
            InspectionPhoto.objects.filter(
                inspection=inspection, pk__in=[int(p) for p in current.photo_ids or []]
            ).order_by("uploaded_at", "pk")
        )
        if current
        else []
    )
    may_review = (
        inspection.status == InspectionStatus.SUBMITTED
        and inspections_reviewed_by(request.user).filter(pk=inspection.pk).exists()
    )
    return {
        "inspection": inspection,
        "current": current,
        "groups": _answer_rows(definition, current, photos) if current else [],
        "general_photos": [p for p in photos if not p.question],
        "history": list(reversed(history)),
        "reviews": inspection.reviews.select_related("reviewer", "version").order_by(
            "decided_at", "pk"
        ),
        "participants": InspectionParticipant.objects.filter(inspection=inspection)
        .select_related("user")
        .order_by("pk"),
        "may_review": may_review,
        "return_form": ReturnForm(),
        "field_find_pending": inspection.is_field_find
        and inspection.institution.status == InstitutionStatus.PENDING,
    }


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One inspection: the current answers by group, photos, position, versions and decisions."""
    _require_manager(request)
    inspection = get_object_or_404(
        inspections_visible_to(request.user).select_related(
            "institution", "inspector", "region", "checklist", "task__round", "lead"
        ),
        pk=pk,
    )
    return render(request, "screening/review/detail.html", _detail_context(request, inspection))


def _reviewable(request: HttpRequest, pk: int) -> Inspection:
    _require_manager(request)
    return get_object_or_404(inspections_reviewed_by(request.user), pk=pk)


@login_required
@require_POST
def review_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve the submitted version; flagged answers open a lead, announced with its link."""
    inspection = _reviewable(request, pk)
    try:
        inspection = review_services.inspection_approve(actor=request.user, inspection=inspection)
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("screening:review_detail", pk=pk)
    lead = inspection.lead
    if lead is not None:
        link = format_html(
            '<a href="{}">{}</a>', reverse("leads:detail", args=[lead.pk]), lead.reference
        )
        messages.success(
            request,
            format_html(
                _("Approved. The flagged answers are now lead {lead}, waiting for the bureau."),
                lead=link,
            ),
        )
    else:
        messages.success(request, _("Approved."))
    return redirect("screening:review_queue")


@login_required
@require_POST
def review_return(request: HttpRequest, pk: int) -> HttpResponse:
    """Return the submitted version to the inspector with what to correct."""
    inspection = _reviewable(request, pk)
    form = ReturnForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say what the inspector should correct."))
        return redirect("screening:review_detail", pk=pk)
    try:
        review_services.inspection_return(
            actor=request.user, inspection=inspection, reason=form.cleaned_data["reason"]
        )
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("screening:review_detail", pk=pk)
    messages.success(request, _("Returned to the inspector for correction."))
    return redirect("screening:review_queue")


# ---------------------------------------------------------------------------- field finds


@login_required
def field_finds(request: HttpRequest) -> HttpResponse:
    """Institutions found in the field in the user's places, waiting for approval."""
    _require_manager(request)
    reports = Inspection.objects.filter(is_field_find=True).select_related(
        "inspector", "task__round"
    )
    rows = (
        field_finds_reviewed_by(request.user)
        .select_related("region")
        .prefetch_related(
            Prefetch("inspections", queryset=reports.order_by("pk"), to_attr="reports")
        )
        .order_by("created_at", "pk")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "screening/review/field_finds.html", {"page": page})


@login_required
@require_POST
def field_find_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Register the field find; the matcher's possible duplicates go to the bureau's review."""
    _require_manager(request)
    institution = get_object_or_404(field_finds_reviewed_by(request.user), pk=pk)
    try:
        result = review_services.field_find_approve(actor=request.user, institution=institution)
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("screening:field_finds")
    done = _("%(name)s is now in the registry.") % {"name": result.institution.name}
    if result.queued:
        done += " " + ngettext(
            "%(n)d possible duplicate was sent to the bureau's duplicate review.",
            "%(n)d possible duplicates were sent to the bureau's duplicate review.",
            result.queued,
        ) % {"n": result.queued}
    else:
        done += " " + _("The matcher found no similar institution.")
    messages.success(request, done)
    return redirect("screening:field_finds")


@login_required
@require_POST
def field_find_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Close the field find, saying why; the record is kept."""
    _require_manager(request)
    institution = get_object_or_404(field_finds_reviewed_by(request.user), pk=pk)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the institution is not registered."))
        return redirect("screening:field_finds")
    try:
        review_services.field_find_reject(
            actor=request.user, institution=institution, reason=form.cleaned_data["reason"]
        )
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("screening:field_finds")
    messages.success(
        request, _("%(name)s was not registered; the record is kept.") % {"name": institution.name}
    )
    return redirect("screening:field_finds")
