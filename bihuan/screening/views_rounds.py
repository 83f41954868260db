"""The rounds pages: the list, opening a round, the round with its tables and adjustments, live
progress, and each inspector's table as XLSX and as a printable A4 page with a QR code.

Rounds and tasks come from the scoped selectors: one outside the user's place is a 404, and so is
an adjustment of a round the user may see but not manage (a district's round seen from a
community). Each POST calls one service; a refusal becomes a message, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bihuan.accounts.models import Role, User
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.core.errors import ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.registry.models import Institution
from bihuan.screening import forms_rounds as forms
from bihuan.screening import generation
from bihuan.screening import round_services as services
from bihuan.screening.models import Round, Task, TaskItem
from bihuan.screening.selectors import (
    MANAGERS,
    published_checklists,
    rounds_managed_by,
    rounds_visible_to,
    tasks_managed_by,
    tasks_visible_to,
)
from bihuan.screening.workflow import (
    ITEM_STATUS_OF_INSPECTION,
    InspectionStatus,
    ItemStatus,
    RoundStatus,
    TaskKind,
)
from bihuan.territory.models import Level, Region

PAGE_SIZE = 50
TASKS_PER_PAGE = 20
PROGRESS_PER_PAGE = 100
MAX_CHOICES = 500
ROUND_LEVELS = services.ROUND_LEVELS
DONE = (InspectionStatus.SUBMITTED, InspectionStatus.APPROVED)
PRINT_BLANK_ROWS = 3

LIST_HEADER = [
    gettext_lazy("Name"),
    gettext_lazy("Place"),
    gettext_lazy("Region code"),
    gettext_lazy("Status"),
    gettext_lazy("Starts"),
    gettext_lazy("Ends"),
    gettext_lazy("Tables"),
    gettext_lazy("Institutions"),
    gettext_lazy("Issued"),
]
TASK_HEADER = [
    gettext_lazy("Order"),
    gettext_lazy("Institution"),
    gettext_lazy("Address"),
    gettext_lazy("Licence category"),
    gettext_lazy("Risk"),
    gettext_lazy("Status"),
]


def _require_manager(request: HttpRequest) -> None:
    if not can(request.user, Capability.ROUND_MANAGE):
        raise Http404


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _item_status(item: TaskItem) -> str:
    inspection = getattr(item, "inspection", None)
    if inspection is None:
        return ItemStatus.PENDING
    return ITEM_STATUS_OF_INSPECTION.get(inspection.status, ItemStatus.PENDING)


def _item_status_label(item: TaskItem) -> str:
    return str(ItemStatus(_item_status(item)).label)


# ---------------------------------------------------------------------------- the list


def _list_rows(request: HttpRequest, values: dict[str, str]) -> QuerySet[Round]:
    rows = rounds_visible_to(request.user)
    if "status" in values:
        rows = rows.filter(status=values["status"])
    if "place" in values:
        rows = rows.filter(region__code__startswith=values["place"])
    if "q" in values:
        rows = rows.filter(Q(name__icontains=values["q"]) | Q(region__name__icontains=values["q"]))
    return (
        rows.select_related("region", "checklist__template")
        .annotate(
            task_count=Count("tasks", distinct=True),
            item_count=Count("items", distinct=True),
        )
        .order_by("-starts_on", "-pk")
    )


def _list_export(rows: QuerySet[Round]) -> Iterator[list[Any]]:
    for r in rows:
        yield [
            r.name,
            r.region.name,
            r.region.code,
            r.get_status_display(),
            r.starts_on,
            r.ends_on,
            getattr(r, "task_count", 0),
            getattr(r, "item_count", 0),
            r.issued_at,
        ]


@login_required
@require_GET
def rounds(request: HttpRequest) -> HttpResponse:
    """Rounds of the user's places: filters by status and place, paging and an XLSX export."""
    _require_manager(request)
    form = forms.RoundFilterForm(request.GET)
    values = form.values()
    rows = _list_rows(request, values)
    if request.GET.get("format") == "xlsx":
        return xlsx_response("rounds.xlsx", [str(h) for h in LIST_HEADER], _list_export(rows))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "form": form}
    if _is_htmx(request):
        return render(request, "screening/rounds/list.html#results", context)
    return render(request, "screening/rounds/list.html", context)


# ---------------------------------------------------------------------------- opening


def _managed_places(user: Any) -> list[tuple[str, str]]:
    """Places the user may open a round for: their manager places and everything below them."""
    regions = (
        Region.objects.filter(scope_of(user).region_q(roles=MANAGERS))
        .filter(level__in=ROUND_LEVELS, is_active=True)
        .order_by("path")[:MAX_CHOICES]
    )
    indent = {
        Level.PROVINCE: 0,
        Level.CITY: 1,
        Level.DISTRICT: 2,
        Level.STREET: 3,
        Level.COMMUNITY: 4,
    }
    return [(r.code, f"{'　' * indent.get(Level(r.level), 0)}{r.name} {r.code}") for r in regions]


@login_required
@require_http_methods(["GET", "POST"])
def round_new(request: HttpRequest) -> HttpResponse:
    """Open a round: place, name, period and a published checklist; the tables come at once."""
    _require_manager(request)
    places = _managed_places(request.user)
    form = forms.RoundForm(
        request.POST if request.method == "POST" else None,
        places=places,
        checklists=published_checklists().order_by("template__code", "-number"),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        region = get_object_or_404(Region, code=data["region"])
        try:
            round_ = services.round_open(
                actor=request.user,
                region=region,
                name=data["name"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                checklist=data["checklist"],
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                _("Round opened: %(n)d institutions on %(t)d tables.")
                % {"n": round_.summary.get("assigned", 0), "t": round_.summary.get("tasks", 0)},
            )
            return redirect("screening:round_detail", pk=round_.pk)
    return render(request, "screening/rounds/new.html", {"form": form})


# ---------------------------------------------------------------------------- the round


def _people(round_: Round) -> list[tuple[int, str]]:
    """Who may be given work in the round: inspectors and coordinators of its place or street."""
    region = round_.region
    q = Q(assignments__region__path__startswith=region.path)
    if region.level == Level.COMMUNITY and region.parent_id is not None:
        street = Region.objects.only("path").get(pk=region.parent_id)
        q |= Q(assignments__region__path__startswith=street.path)
    people = (
        User.objects.filter(
            q,
            is_active=True,
            assignments__is_active=True,
            assignments__role__in=[Role.INSPECTOR, Role.COORDINATOR],
        )
        .distinct()
        .order_by("display_name", "username")[:MAX_CHOICES]
    )
    return [(u.pk, u.display_name or u.username) for u in people]


def _sweep_places(round_: Round) -> list[tuple[str, str]]:
    regions = Region.objects.filter(path__startswith=round_.region.path, is_active=True).filter(
        level__in=[round_.region.level, Level.STREET, Level.COMMUNITY]
    )
    return [(r.code, f"{r.name} {r.code}") for r in regions.order_by("path")[:MAX_CHOICES]]


def _round_context(request: HttpRequest, round_: Round) -> dict[str, Any]:
    manages = rounds_managed_by(request.user).filter(pk=round_.pk).exists()
    items = TaskItem.objects.select_related(
        "institution", "previous_inspector", "inspection"
    ).order_by("position", "pk")
    tasks = (
        Task.objects.filter(pk__in=tasks_visible_to(request.user).values("pk"))
        .filter(round=round_)
        .select_related("inspector", "region")
        .prefetch_related(Prefetch("items", queryset=items))
        .order_by("kind", "inspector__display_name", "pk")
    )
    page = Paginator(tasks, TASKS_PER_PAGE).get_page(request.GET.get("page"))
    left = services.unstaffed_left(round_)
    unstaffed = list(Institution.objects.filter(pk__in=left[:MAX_CHOICES]).select_related("region"))
    is_draft = round_.status == RoundStatus.DRAFT
    people = _people(round_) if manages and round_.status != RoundStatus.CLOSED else []
    context: dict[str, Any] = {
        "round": round_,
        "page": page,
        "manages": manages,
        "is_draft": is_draft,
        "unstaffed": unstaffed,
        "unstaffed_count": len(left),
        "people": people,
        "formula": generation.__doc__,
        "weights": {
            "open_leads": generation.OPEN_LEAD_WEIGHT,
            "past": generation.PAST_VIOLATION_WEIGHT,
            "cap": generation.MONTH_CAP,
            "never": generation.NEVER_INSPECTED,
            "pending": generation.PENDING_WEIGHT,
            "unlicensed": generation.UNLICENSED_WEIGHT,
        },
    }
    if manages and round_.status != RoundStatus.CLOSED:
        context["sweep_form"] = forms.SweepForm(people=people, places=_sweep_places(round_))
    return context


@login_required
@require_GET
def round_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The round: its tables in risk order, why that order, the unstaffed, and the adjustments."""
    _require_manager(request)
    round_ = get_object_or_404(
        rounds_visible_to(request.user).select_related("region", "checklist__template"), pk=pk
    )
    return render(request, "screening/rounds/detail.html", _round_context(request, round_))


def _managed(request: HttpRequest, pk: int) -> Round:
    _require_manager(request)
    return get_object_or_404(rounds_managed_by(request.user), pk=pk)


def _person(request: HttpRequest, pk: int) -> User:
    return get_object_or_404(User, pk=pk, is_active=True)


@login_required
@require_POST
def round_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Issue, close or regenerate a round; add a sweep task or take an unstaffed institution."""
    round_ = _managed(request, pk)
    target = round_
    try:
        if action == "issue":
            services.round_issue(actor=request.user, round_=round_)
            messages.success(request, _("Round issued; the inspectors have been told."))
        elif action == "close":
            services.round_close(actor=request.user, round_=round_)
            messages.success(request, _("Round closed."))
        elif action == "regenerate":
            target = services.round_regenerate(actor=request.user, round_=round_)
            messages.success(request, _("Tables generated again as a new draft round."))
        elif action == "sweep":
            people = _people(round_)
            form = forms.SweepForm(request.POST, people=people, places=_sweep_places(round_))
            if not form.is_valid():
                raise ServiceError(_("Choose an inspector, a place and instructions."))
            services.task_sweep_add(
                actor=request.user,
                round_=round_,
                inspector=_person(request, form.cleaned_data["inspector"]),
                region=get_object_or_404(Region, code=form.cleaned_data["region"]),
                instructions=form.cleaned_data["instructions"],
            )
            messages.success(request, _("Sweep task added."))
        elif action == "add":
            add = forms.AddForm(request.POST, people=_people(round_))
            if not add.is_valid():
                raise ServiceError(_("Choose an inspector."))
            services.task_item_add(
                actor=request.user,
                round_=round_,
                institution=get_object_or_404(
                    generation.listed_institutions(round_.region),
                    pk=add.cleaned_data["institution"],
                ),
                inspector=_person(request, add.cleaned_data["inspector"]),
            )
            messages.success(request, _("Institution added to the table."))
        else:
            raise Http404
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("screening:round_detail", pk=target.pk)


@login_required
@require_POST
def item_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Give one institution of a draft round to another inspector."""
    _require_manager(request)
    item = get_object_or_404(
        TaskItem.objects.filter(round__in=rounds_managed_by(request.user)), pk=pk
    )
    form = forms.PersonForm(request.POST, people=_people(item.round))
    try:
        if not form.is_valid():
            raise ServiceError(_("Choose an inspector."))
        services.task_item_move(
            actor=request.user,
            item=item,
            inspector=_person(request, form.cleaned_data["inspector"]),
        )
        messages.success(request, _("Institution moved."))
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("screening:round_detail", pk=item.round_id)


# ---------------------------------------------------------------------------- progress


@login_required
@require_GET
def round_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """Done / total per inspector (done = submitted or approved), refreshed every 30 seconds."""
    _require_manager(request)
    round_ = get_object_or_404(rounds_visible_to(request.user).select_related("region"), pk=pk)
    tasks = (
        Task.objects.filter(pk__in=tasks_visible_to(request.user).values("pk"))
        .filter(round=round_, kind=TaskKind.INSTITUTIONS)
        .select_related("inspector", "region")
        .annotate(
            total=Count("items", distinct=True),
            done=Count("items", filter=Q(items__inspection__status__in=DONE), distinct=True),
            approved=Count(
                "items",
                filter=Q(items__inspection__status=InspectionStatus.APPROVED),
                distinct=True,
            ),
        )
        .filter(total__gt=0)
        .order_by("inspector__display_name", "pk")
    )
    rows = Paginator(tasks, PROGRESS_PER_PAGE).get_page(request.GET.get("page"))
    # The totals cover every table, not just the page: one aggregate over the round's items.
    items = TaskItem.objects.filter(
        round=round_, task__in=tasks_visible_to(request.user), task__kind=TaskKind.INSTITUTIONS
    )
    totals = items.aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(inspection__status__in=DONE)),
        approved=Count("pk", filter=Q(inspection__status=InspectionStatus.APPROVED)),
    )
    context = {"round": round_, "rows": rows, "totals": totals}
    if _is_htmx(request):
        return render(request, "screening/rounds/progress.html#table", context)
    return render(request, "screening/rounds/progress.html", context)


# ---------------------------------------------------------------------------- task tables out


def _visible_task(request: HttpRequest, pk: int) -> Task:
    """A task the user sees; an inspector's own table only once its round was issued."""
    user = request.user
    visible = tasks_visible_to(user).filter(
        Q(round__status__in=[RoundStatus.ISSUED, RoundStatus.CLOSED])
        | Q(pk__in=tasks_managed_by(user).values("pk"))
    )
    return get_object_or_404(visible.select_related("round", "inspector", "region"), pk=pk)


def _task_items(task: Task) -> QuerySet[TaskItem]:
    return task.items.select_related("institution", "inspection").order_by("position", "pk")


@login_required
@require_GET
def task_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    """One inspector's table as a workbook: order, institution, address, category, risk, status."""
    task = _visible_task(request, pk)
    rows = (
        [
            item.position,
            item.institution.name,
            item.institution.address,
            item.institution.get_category_display(),
            item.risk,
            _item_status_label(item),
        ]
        for item in _task_items(task)
    )
    return xlsx_response(f"task-{task.pk}.xlsx", [str(h) for h in TASK_HEADER], rows)


@login_required
@require_GET
def task_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The table on an A4 page, with a QR code that opens the task on a phone."""
    task = _visible_task(request, pk)
    url = request.build_absolute_uri(reverse("screening:task", args=[task.pk]))
    qr = segno.make(url, error="m").svg_inline(scale=3, title=task.round.name)
    items = [(item, _item_status_label(item)) for item in _task_items(task)]
    return render(
        request,
        "screening/rounds/task_print.html",
        {
            "task": task,
            "items": items,
            "qr": qr,
            "task_url": url,
            "blank_rows": range(PRINT_BLANK_ROWS),
        },
    )
