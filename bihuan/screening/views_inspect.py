"""The inspector's phone pages: my tasks, a task table, the checklist, photos and field finds.

Every page works as a plain form without JavaScript; ``static/js/inspect.js`` adds autosave,
photo scaling and upload, the position and live skip logic, and talks to the same views, which
then answer JSON (the request says ``Accept: application/json``). Everything is fetched through
the scoped selectors: another inspector's task or inspection is a 404. Writes are the
inspector's own; a coordinator who sees a task may read it but not fill it in.
"""

from __future__ import annotations

import io
import uuid
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from PIL import Image

from bihuan.accounts.models import User
from bihuan.accounts.policies import Capability, can
from bihuan.core.errors import ServiceError
from bihuan.screening import forms_inspect as forms
from bihuan.screening import inspection_services as services
from bihuan.screening import selectors
from bihuan.screening.models import (
    Inspection,
    InspectionParticipant,
    InspectionPhoto,
    InspectionVersion,
    TaskItem,
)
from bihuan.screening.workflow import (
    INSPECTION_EDITABLE,
    ITEM_STATUS_OF_INSPECTION,
    InspectionStatus,
    ItemStatus,
    RoundStatus,
    TaskKind,
)

DONE = [InspectionStatus.SUBMITTED, InspectionStatus.APPROVED]
THUMB_SIDE = 320


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _refusal(request: HttpRequest, exc: ServiceError, back: str) -> HttpResponse:
    """A refused change: JSON for the script, a message and the page again otherwise."""
    if _wants_json(request):
        body: dict[str, Any] = {"ok": False, "error": exc.message, "field": exc.field}
        if isinstance(exc, services.ChecklistErrors):
            body["errors"] = exc.errors
        return JsonResponse(body, status=400)
    messages.error(request, exc.message)
    return redirect(back)


def _own_inspection(request: HttpRequest, pk: int) -> Inspection:
    """An inspection the user sees and made; anything else is a 404."""
    inspection = get_object_or_404(
        selectors.inspections_visible_to(request.user).select_related(
            "task__round", "institution", "checklist", "region", "item"
        ),
        pk=pk,
    )
    if inspection.inspector_id != request.user.pk:
        raise Http404
    return inspection


def _probe(request: HttpRequest, institution: Any) -> Inspection:
    """An unsaved visit of the user's, to ask who could join it before it is started."""
    return Inspection(region=institution.region, inspector=cast(User, request.user))


def _item_status(item: TaskItem) -> str:
    inspection = getattr(item, "inspection", None)
    if inspection is None:
        return ItemStatus.PENDING
    return ITEM_STATUS_OF_INSPECTION[inspection.status]


# ---------------------------------------------------------------------------- tasks


@login_required
@require_GET
def my_tasks(request: HttpRequest) -> HttpResponse:
    """The user's task tables in issued rounds, each with how far it got and when it is due."""
    tasks = (
        selectors.my_tasks(request.user)
        .filter(round__status=RoundStatus.ISSUED)
        .select_related("round", "region")
        .annotate(
            total=Count("items", distinct=True),
            done=Count("items", filter=Q(items__inspection__status__in=DONE), distinct=True),
            found=Count("inspections", filter=Q(inspections__is_field_find=True), distinct=True),
        )
        .order_by("round__ends_on", "pk")
    )
    today = timezone.localdate()
    return render(request, "screening/inspect/my_tasks.html", {"tasks": tasks, "today": today})


@login_required
@require_GET
def task(request: HttpRequest, pk: int) -> HttpResponse:
    """One task table: its institutions in order with their status; a sweep's instructions."""
    task = get_object_or_404(
        selectors.tasks_visible_to(request.user).select_related("round", "region", "inspector"),
        pk=pk,
    )
    rows = []
    for item in task.items.select_related("institution", "inspection").order_by("position", "pk"):
        status = _item_status(item)
        rows.append((item, status, ItemStatus(status).label))
    finds = list(
        task.inspections.filter(is_field_find=True)
        .select_related("institution")
        .order_by("created_at", "pk")
    )
    is_mine = task.inspector_id == request.user.pk and can(request.user, Capability.INSPECT)
    context = {
        "task": task,
        "rows": rows,
        "finds": finds,
        "is_mine": is_mine,
        "is_open": task.round.status == RoundStatus.ISSUED,
        "is_sweep": task.kind == TaskKind.SWEEP,
        "done": sum(1 for _item, status, _label in rows if status in DONE),
    }
    return render(request, "screening/inspect/task.html", context)


# ---------------------------------------------------------------------------- the checklist page


def _photos_by_question(inspection: Inspection | None) -> dict[str, list[InspectionPhoto]]:
    found: dict[str, list[InspectionPhoto]] = {}
    if inspection is None:
        return found
    for photo in inspection.photos.filter(removed_at__isnull=True).order_by("uploaded_at", "pk"):
        found.setdefault(photo.question, []).append(photo)
    return found


def _saved_answers(inspection: Inspection | None) -> dict[str, Any]:
    """What to fill the form with: the server draft, else the last version sent (a correction)."""
    if inspection is None:
        return {}
    if inspection.draft:
        return dict(inspection.draft)
    last = inspection.versions.order_by("-number").first()
    if last is None:
        return {}
    return {
        "values": last.answers.get("values", {}),
        "notes": last.answers.get("notes", {}),
        "note": last.note,
        "outcome": last.outcome,
    }


def _form_context(
    request: HttpRequest,
    *,
    item: TaskItem | None,
    inspection: Inspection | None,
    visit: forms.VisitForm,
    values: dict[str, Any],
    notes: dict[str, str],
    errors: dict[str, str],
) -> dict[str, Any]:
    task, institution, definition = _visit_of(item, inspection)
    photos = _photos_by_question(inspection)
    probe = inspection or _probe(request, institution)
    participants: set[int] = set()
    if inspection is not None:
        participants = set(
            inspection.participants.filter(is_active=True).values_list("user_id", flat=True)
        )
    chosen = participants
    if visit.is_bound:
        # A refused plain form comes back with the people it ticked.
        chosen = {int(v) for v in request.POST.getlist("co_inspectors") if v.isdigit()}
    reviews = []
    if inspection is not None:
        reviews = list(inspection.reviews.select_related("version").order_by("-decided_at")[:3])
    return {
        "task": task,
        "item": item,
        "inspection": inspection,
        "institution": institution,
        "definition": definition,
        "title": forms.checklists.definition_title(definition),
        "groups": forms.checklist_groups(definition, values, notes, errors, photos),
        "general_photos": photos.get("", []),
        "visit": visit,
        "co_inspectors": list(selectors.co_inspector_choices(probe)),
        "chosen": chosen,
        "reviews": reviews,
        "far_metres": _far_metres(),
        "urls": _urls(inspection, item),
        "js_messages": _js_messages(),
    }


def _js_messages() -> dict[str, str]:
    """What inspect.js says, in the user's language."""
    return {
        "saved": _("Draft saved"),
        "saved_local": _("Saved on this phone"),
        "offline": _("No connection: kept on this phone, will retry."),
        "locating": _("Finding your position…"),
        "no_position": _("The position could not be found."),
        # Formatted by the script, which knows the distance: keep %(m)s in the translation.
        "far": _("%(m)s m from the registered address"),
        "uploading": _("Uploading photo…"),
        "upload_failed": _("The photo could not be uploaded."),
        "sending": _("Sending…"),
        "remove": _("Remove photo"),
        "retry": _("Not sent: check the connection and tap again."),
    }


def _far_metres() -> int:
    return int(settings.SCREENING_FAR_METRES)


def _visit_of(
    item: TaskItem | None, inspection: Inspection | None
) -> tuple[Any, Any, dict[str, Any]]:
    """The task, institution and checklist definition of a visit, started or not."""
    if inspection is not None:
        return inspection.task, inspection.institution, inspection.checklist.definition or {}
    if item is None:
        raise Http404
    return item.task, item.institution, item.task.round.checklist.definition or {}


def _urls(inspection: Inspection | None, item: TaskItem | None) -> dict[str, str]:
    """Where the script posts; before the visit is started only ``start`` is known."""
    urls: dict[str, str] = {}
    if item is not None:
        urls["start"] = reverse("screening:inspect", args=[item.pk])
    if inspection is not None:
        for name in ("inspection_draft", "inspection_photo", "inspection_participants"):
            urls[name.removeprefix("inspection_")] = reverse(
                f"screening:{name}", args=[inspection.pk]
            )
        urls["submit"] = reverse("screening:inspection_submit", args=[inspection.pk])
        urls["edit"] = reverse("screening:inspection_edit", args=[inspection.pk])
    return urls


def _initial_visit(inspection: Inspection | None, saved: dict[str, Any]) -> forms.VisitForm:
    return forms.VisitForm(
        initial={
            "client_id": inspection.client_id if inspection is not None else uuid.uuid4(),
            "submission_id": uuid.uuid4(),
            "outcome": saved.get("outcome") or "visited",
            "note": saved.get("note", ""),
            "latitude": saved.get("latitude"),
            "longitude": saved.get("longitude"),
            "accuracy": saved.get("accuracy"),
        }
    )


def _render_form(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, "screening/inspect/form.html", context, status=status)


def _visit_fields(visit: forms.VisitForm) -> dict[str, Any]:
    data = visit.cleaned_data
    return {
        "note": data.get("note", ""),
        "outcome": data.get("outcome", ""),
        "latitude": data.get("latitude"),
        "longitude": data.get("longitude"),
        "accuracy": data.get("accuracy"),
    }


def _submit(
    request: HttpRequest, *, item: TaskItem | None, inspection: Inspection | None
) -> HttpResponse:
    """Parse the form, submit through one service, and answer; a refusal re-renders the form."""
    task, _institution, definition = _visit_of(item, inspection)
    values, notes = forms.parse_answers(definition, request.POST)
    visit = forms.VisitForm(request.POST)
    errors: dict[str, str] = {}
    if visit.is_valid():
        try:
            users = _chosen_people(request, inspection, item)
            services.inspection_submit(
                actor=request.user,
                client_id=visit.cleaned_data["client_id"],
                submission_id=visit.cleaned_data["submission_id"],
                values=values,
                notes=notes,
                visited_at=visit.cleaned_data.get("visited_at"),
                item=item,
                photos=forms.inline_photos(definition, request.FILES),
                participants=users,
                **_visit_fields(visit),
            )
        except ServiceError as exc:
            if _wants_json(request):
                return _refusal(request, exc, "")
            if isinstance(exc, services.ChecklistErrors):
                errors = exc.errors
            visit.add_error(None, exc.message)
        else:
            done = reverse("screening:task", args=[task.pk])
            message = _("Inspection submitted for review.")
            # The script goes to ``done`` itself; the message waits there for it either way.
            messages.success(request, message)
            if _wants_json(request):
                return JsonResponse({"ok": True, "redirect": done, "message": message})
            return redirect(done)
    elif _wants_json(request):
        return JsonResponse({"ok": False, "error": _("Reload the page and try again.")}, status=400)
    context = _form_context(
        request,
        item=item,
        inspection=inspection,
        visit=visit,
        values=values,
        notes=notes,
        errors=errors,
    )
    return _render_form(request, context)


def _chosen_people(
    request: HttpRequest, inspection: Inspection | None, item: TaskItem | None
) -> list[Any] | None:
    """The co-inspectors ticked on the form; None when the form did not carry the list."""
    if request.POST.get("co_inspectors_sent") != "1":
        return None
    ids = {int(v) for v in request.POST.getlist("co_inspectors") if v.isdigit()}
    _task, institution, _definition = _visit_of(item, inspection)
    probe = inspection or _probe(request, institution)
    users = list(selectors.co_inspector_choices(probe).filter(pk__in=ids))
    if len(users) != len(ids):
        raise ServiceError(_("Choose a co-inspector from the list."), field="participants")
    return users


@login_required
@require_http_methods(["GET", "POST"])
def inspect(request: HttpRequest, pk: int) -> HttpResponse:
    """The checklist of one institution of the user's task (started on the first save)."""
    item = get_object_or_404(
        selectors.task_items_visible_to(request.user).select_related(
            "task__round__checklist", "institution__region", "inspection"
        ),
        pk=pk,
    )
    if item.task.inspector_id != request.user.pk or not can(request.user, Capability.INSPECT):
        raise Http404
    existing = getattr(item, "inspection", None)
    if existing is not None and request.method == "GET":
        target = (
            "inspection_edit" if existing.status in INSPECTION_EDITABLE else "inspection_detail"
        )
        return redirect(f"screening:{target}", pk=existing.pk)
    if item.task.round.status != RoundStatus.ISSUED:
        messages.warning(request, _("This round is not open for inspections."))
        return redirect("screening:task", pk=item.task_id)
    if request.method == "GET":
        context = _form_context(
            request,
            item=item,
            inspection=None,
            visit=_initial_visit(None, {}),
            values={},
            notes={},
            errors={},
        )
        return _render_form(request, context)
    if request.POST.get("action") == "start":
        return _start(request, item)
    return _submit(request, item=item, inspection=existing)


def _start(request: HttpRequest, item: TaskItem) -> HttpResponse:
    try:
        inspection = services.inspection_start(
            actor=request.user, client_id=request.POST.get("client_id", ""), item=item
        )
    except ServiceError as exc:
        return _refusal(request, exc, reverse("screening:task", args=[item.task_id]))
    if _wants_json(request):
        return JsonResponse(
            {
                "ok": True,
                "id": inspection.pk,
                "client_id": str(inspection.client_id),
                "urls": _urls(inspection, item),
            }
        )
    return redirect("screening:inspection_edit", pk=inspection.pk)


@login_required
@require_GET
def inspection_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The checklist of a started, returned or field-found inspection."""
    inspection = _own_inspection(request, pk)
    if inspection.status not in INSPECTION_EDITABLE:
        return redirect("screening:inspection_detail", pk=inspection.pk)
    saved = _saved_answers(inspection)
    context = _form_context(
        request,
        item=inspection.item,
        inspection=inspection,
        visit=_initial_visit(inspection, saved),
        values=saved.get("values", {}),
        notes=saved.get("notes", {}),
        errors={},
    )
    return _render_form(request, context)


@login_required
@require_POST
def inspection_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the inspection for review (a replayed submission answers as the first one did)."""
    inspection = _own_inspection(request, pk)
    return _submit(request, item=None, inspection=inspection)


@login_required
@require_POST
def inspection_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """Autosave: keep the unsent answers on the server; answers JSON."""
    inspection = _own_inspection(request, pk)
    definition = inspection.checklist.definition or {}
    values, notes = forms.parse_answers(definition, request.POST)
    try:
        saved = services.inspection_save_draft(
            actor=request.user,
            client_id=inspection.client_id,
            values=values,
            notes=notes,
            note=request.POST.get("note", ""),
            outcome=request.POST.get("outcome", ""),
            latitude=request.POST.get("latitude"),
            longitude=request.POST.get("longitude"),
            accuracy=request.POST.get("accuracy"),
        )
    except ServiceError as exc:
        return JsonResponse({"ok": False, "error": exc.message}, status=400)
    return JsonResponse({"ok": True, "saved_at": timezone.localtime(saved).strftime("%H:%M:%S")})


def _photo_json(photo: InspectionPhoto) -> dict[str, Any]:
    url = reverse("screening:photo", args=[photo.pk])
    return {
        "ok": True,
        "id": photo.pk,
        "question": photo.question,
        "url": url,
        "thumbnail": f"{url}?size=thumb",
        "remove": reverse(
            "screening:inspection_photo_remove", args=[photo.inspection_id, photo.pk]
        ),
    }


@login_required
@require_POST
def inspection_photo(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload one photo (scaled down by the page); the same photo client id is stored once."""
    inspection = _own_inspection(request, pk)
    back = reverse("screening:inspection_edit", args=[inspection.pk])
    form = forms.PhotoForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refusal(request, ServiceError(_("Choose a photo to upload."), field="photo"), back)
    try:
        photo = services.photo_add(
            actor=request.user,
            inspection=inspection,
            client_id=form.cleaned_data["client_id"],
            question=form.cleaned_data["question"],
            upload=form.cleaned_data["photo"],
            captured_hint=form.cleaned_data["captured_hint"],
        )
    except ServiceError as exc:
        return _refusal(request, exc, back)
    if _wants_json(request):
        return JsonResponse(_photo_json(photo))
    messages.success(request, _("Photo added."))
    return redirect(back)


@login_required
@require_POST
def inspection_photo_remove(request: HttpRequest, pk: int, photo_pk: int) -> HttpResponse:
    """Take a photo out of the inspection (kept on the server, never deleted)."""
    inspection = _own_inspection(request, pk)
    photo = get_object_or_404(InspectionPhoto, pk=photo_pk, inspection=inspection)
    back = reverse("screening:inspection_edit", args=[inspection.pk])
    try:
        services.photo_remove(actor=request.user, photo=photo)
    except ServiceError as exc:
        return _refusal(request, exc, back)
    if _wants_json(request):
        return JsonResponse({"ok": True, "id": photo.pk})
    messages.success(request, _("Photo removed."))
    return redirect(back)


@login_required
@require_POST
def inspection_participants(request: HttpRequest, pk: int) -> HttpResponse:
    """Add or take off a co-inspector."""
    inspection = _own_inspection(request, pk)
    back = reverse("screening:inspection_edit", args=[inspection.pk])
    form = forms.ParticipantForm(request.POST)
    person = None
    if form.is_valid():
        choices = selectors.co_inspector_choices(inspection)
        person = choices.filter(pk=form.cleaned_data["user"]).first()
    if person is None:
        messages.error(request, _("Choose a co-inspector from the list."))
        return redirect(back)
    try:
        if form.cleaned_data["action"] == "add":
            services.participant_add(actor=request.user, inspection=inspection, user=person)
        else:
            services.participant_remove(actor=request.user, inspection=inspection, user=person)
    except ServiceError as exc:
        return _refusal(request, exc, back)
    if _wants_json(request):
        ids = inspection.participants.filter(is_active=True).values_list("user_id", flat=True)
        return JsonResponse({"ok": True, "participants": sorted(ids)})
    return redirect(back)


# ---------------------------------------------------------------------------- reading


@login_required
@require_GET
def inspection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An inspection as sent: its versions, the reviewers' reasons, its photos and people."""
    inspection = get_object_or_404(
        selectors.inspections_visible_to(request.user).select_related(
            "task__round", "institution", "inspector", "region", "checklist__template"
        ),
        pk=pk,
    )
    versions = list(
        inspection.versions.select_related("submitted_by")
        .prefetch_related(Prefetch("reviews", to_attr="decisions"))
        .order_by("-number")
    )
    photos = list(inspection.photos.order_by("uploaded_at", "pk"))
    people = list(
        InspectionParticipant.objects.filter(inspection=inspection, is_active=True)
        .select_related("user")
        .order_by("pk")
    )
    definition = inspection.checklist.definition or {}
    labels = {
        q["name"]: forms.checklists.question_label(q) for q in definition.get("questions", [])
    }
    context = {
        "inspection": inspection,
        "versions": versions,
        "latest": versions[0] if versions else None,
        "answers": _answer_rows(definition, versions[0]) if versions else [],
        "photo_rows": [(p, labels.get(p.question, "")) for p in photos],
        "people": people,
        "is_mine": inspection.inspector_id == request.user.pk,
        "is_editable": inspection.status in INSPECTION_EDITABLE,
    }
    return render(request, "screening/inspect/detail.html", context)


def _answer_rows(
    definition: dict[str, Any], version: InspectionVersion
) -> list[tuple[str, str, str]]:
    """(question, answer, note) of a version, in the checklist's order."""
    values = version.answers.get("values", {})
    notes = version.answers.get("notes", {})
    rows = []
    for q in definition.get("questions", []):
        name = q["name"]
        if name not in values and name not in notes:
            continue
        value = values.get(name)
        if q["type"] in ("yes_no_na", "select_one", "select_multiple"):
            chosen = value if isinstance(value, list) else [value]
            text = "、".join(
                forms.checklists.choice_label(c) for c in q["choices"] if c["name"] in chosen
            )
        elif isinstance(value, dict):
            text = f"{value.get('lat')}, {value.get('lng')} (±{value.get('accuracy')} m)"
        else:
            text = "" if value is None else str(value)
        rows.append((forms.checklists.question_label(q), text, notes.get(name, "")))
    return rows


@login_required
@require_GET
def photo(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A photo, served only to those who see its inspection (never a public media URL)."""
    photo = get_object_or_404(
        InspectionPhoto.objects.filter(
            inspection__in=selectors.inspections_visible_to(request.user)
        ),
        pk=pk,
    )
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.GET.get("size") == "thumb":
        with photo.file.open("rb") as handle, Image.open(handle) as image:
            image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=80)
        response: HttpResponseBase = HttpResponse(out.getvalue(), content_type="image/jpeg")
    else:
        response = FileResponse(photo.file.open("rb"), content_type=photo.content_type)
    for key, value in headers.items():
        response[key] = value
    return response


# ---------------------------------------------------------------------------- field finds


@login_required
@require_http_methods(["GET", "POST"])
def field_find_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Report an institution that is not in the registry, then fill in its checklist."""
    task = get_object_or_404(
        selectors.my_tasks(request.user).select_related("round", "region"), pk=pk
    )
    if not can(request.user, Capability.INSPECT):
        raise Http404
    if task.round.status != RoundStatus.ISSUED:
        messages.warning(request, _("This round is not open for inspections."))
        return redirect("screening:task", pk=task.pk)
    if request.method == "GET":
        form = forms.FieldFindForm(initial={"client_id": uuid.uuid4()})
        return render(request, "screening/inspect/field_find.html", {"task": task, "form": form})
    form = forms.FieldFindForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            inspection = services.field_find_report(
                actor=request.user,
                task=task,
                client_id=data["client_id"],
                name=data["name"],
                address=data["address"],
                category=data["category"],
                latitude=data["latitude"],
                longitude=data["longitude"],
                accuracy=data["accuracy"],
                note=data["note"],
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                _("New institution reported; it awaits approval. Fill in its checklist now."),
            )
            return redirect("screening:inspection_edit", pk=inspection.pk)
    return render(request, "screening/inspect/field_find.html", {"task": task, "form": form})
