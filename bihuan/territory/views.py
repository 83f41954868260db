"""Pages of the territory: the region tree, areas and sentinels, and region import."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from bihuan.accounts.policies import Capability, can
from bihuan.accounts.selectors import departments_visible_to, users_visible_to
from bihuan.core.errors import ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.core.forms import flash_form_errors
from bihuan.core.text import normalize_query
from bihuan.territory import imports, services
from bihuan.territory.forms import RegionImportForm, ResponsibleForm, ResponsibleKindForm
from bihuan.territory.models import ResponsiblePartyKind, SentinelKind
from bihuan.territory.selectors import (
    area_responsibles,
    areas_visible_to,
    region_children,
    region_imports_visible_to,
    regions_visible_to,
    sentinels_visible_to,
)


def _require(request: HttpRequest, capability: Capability) -> None:
    if not can(request.user, capability):
        raise Http404


@login_required
def regions(request: HttpRequest) -> HttpResponse:
    """The tops of the user's part of the tree, with search by name or code."""
    _require(request, Capability.TERRITORY_READ)
    query = normalize_query(request.GET.get("q", ""))
    if query or request.GET.get("format") == "xlsx":
        found = regions_visible_to(request.user).select_related("parent")
        if query:
            found = found.filter(Q(name__icontains=query) | Q(code__startswith=query))
        if request.GET.get("format") == "xlsx":
            return xlsx_response(
                "regions.xlsx",
                [_("Code"), _("Name"), _("Level"), _("Parent code"), _("Synthetic"), _("Active")],
                (
                    (
                        r.code,
                        r.name,
                        r.get_level_display(),
                        r.parent.code if r.parent else "",
                        r.is_synthetic,
                        r.is_active,
                    )
                    for r in found.order_by("path")
                ),
            )
        page = Paginator(found.order_by("path"), 50).get_page(request.GET.get("page"))
        return render(request, "territory/regions.html", {"q": query, "page": page})
    return render(request, "territory/regions.html", {"tops": region_children(request.user, None)})


@login_required
def region_children_partial(request: HttpRequest, code: str) -> HttpResponse:
    """htmx: the children of one node of the tree."""
    _require(request, Capability.TERRITORY_READ)
    region = get_object_or_404(regions_visible_to(request.user), code=code)
    return render(
        request,
        "territory/regions.html#children",
        {"nodes": region_children(request.user, region)},
    )


@login_required
def region_detail(request: HttpRequest, code: str) -> HttpResponse:
    """One region: where it sits, what is below it, its areas, sentinels and departments."""
    _require(request, Capability.TERRITORY_READ)
    region = get_object_or_404(regions_visible_to(request.user), code=code)
    chain = region.ancestors()
    shown = set(
        regions_visible_to(request.user)
        .filter(pk__in=[r.pk for r in chain])
        .values_list("pk", flat=True)
    )
    ancestors = [r for r in chain if r.pk in shown]
    return render(
        request,
        "territory/region_detail.html",
        {
            "region": region,
            "ancestors": ancestors,
            "children": region_children(request.user, region),
            "areas": areas_visible_to(request.user)
            .filter(Q(region=region) | Q(communities=region))
            .distinct(),
            "sentinels": sentinels_visible_to(request.user).filter(region=region),
            "departments": departments_visible_to(request.user).filter(jurisdiction=region),
            "people": users_visible_to(request.user)
            .filter(assignments__region=region, assignments__is_active=True)
            .distinct(),
        },
    )


@login_required
def areas(request: HttpRequest) -> HttpResponse:
    _require(request, Capability.TERRITORY_READ)
    rows = areas_visible_to(request.user).filter(is_active=True)
    query = normalize_query(request.GET.get("q", ""))
    if query:
        rows = rows.filter(Q(name__icontains=query) | Q(school_district__icontains=query))
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            "areas.xlsx",
            [_("Name"), _("School district"), _("Region"), _("Synthetic")],
            ((a.name, a.school_district, a.region.name, a.is_synthetic) for a in rows),
        )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "territory/areas.html", {"page": page, "q": query})


@login_required
def area_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.TERRITORY_READ)
    area = get_object_or_404(areas_visible_to(request.user), pk=pk)
    return render(
        request,
        "territory/area_detail.html",
        {
            "area": area,
            "communities": regions_visible_to(request.user)
            .filter(community_areas=area)
            .order_by("code"),
            "schools": sentinels_visible_to(request.user).filter(area=area, is_active=True),
            "responsibles": area_responsibles(area),
            "can_edit": _may_edit_responsibles(request),
            "form": ResponsibleForm(),
        },
    )


def _may_edit_responsibles(request: HttpRequest) -> bool:
    return can(request.user, Capability.TERRITORY_MANAGE) or can(
        request.user, Capability.AREA_RESPONSIBLES_MANAGE
    )


@login_required
@sensitive_post_parameters("phone")
@require_POST
def area_responsible_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Name a responsible party of an area (system administrator or a supervisor of the place)."""
    if not _may_edit_responsibles(request):
        raise Http404
    area = get_object_or_404(areas_visible_to(request.user), pk=pk)
    form = ResponsibleForm(request.POST)
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect("territory:area", pk=pk)
    try:
        services.area_responsible_add(actor=request.user, area=area, **form.cleaned_data)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Responsible party added."))
    return redirect("territory:area", pk=pk)


@login_required
@require_POST
def area_responsible_end(request: HttpRequest, pk: int, party_pk: int) -> HttpResponse:
    if not _may_edit_responsibles(request):
        raise Http404
    area = get_object_or_404(areas_visible_to(request.user), pk=pk)
    party = get_object_or_404(area_responsibles(area), pk=party_pk)
    services.area_responsible_end(actor=request.user, party=party)
    messages.success(request, _("Responsible party stood down."))
    return redirect("territory:area", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def responsible_kinds(request: HttpRequest) -> HttpResponse:
    """The configurable list of kinds of responsible parties."""
    _require(request, Capability.TERRITORY_MANAGE)
    form = ResponsibleKindForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.responsible_kind_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Kind added."))
            return redirect("territory:responsible_kinds")
    return render(
        request,
        "territory/responsible_kinds.html",
        {"kinds": ResponsiblePartyKind.objects.all(), "form": form},
    )


@login_required
@require_POST
def responsible_kind_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.TERRITORY_MANAGE)
    kind = get_object_or_404(ResponsiblePartyKind.objects.all(), pk=pk)
    services.responsible_kind_set_active(
        actor=request.user, kind=kind, active=request.POST.get("active") == "1"
    )
    return redirect("territory:responsible_kinds")


@login_required
def sentinels(request: HttpRequest) -> HttpResponse:
    _require(request, Capability.TERRITORY_READ)
    rows = sentinels_visible_to(request.user).filter(is_active=True)
    kind = request.GET.get("kind", "")
    if kind in SentinelKind.values:
        rows = rows.filter(kind=kind)
    query = normalize_query(request.GET.get("q", ""))
    if query:
        rows = rows.filter(name__icontains=query)
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            "sentinels.xlsx",
            [_("Name"), _("Kind"), _("Community"), _("Community code"), _("Area")],
            (
                (
                    s.name,
                    s.get_kind_display(),
                    s.region.name,
                    s.region.code,
                    s.area.name if s.area else "",
                )
                for s in rows
            ),
        )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "territory/sentinels.html", {"page": page, "kind": kind, "q": query})


@login_required
def sentinel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.TERRITORY_READ)
    sentinel = get_object_or_404(sentinels_visible_to(request.user), pk=pk)
    return render(request, "territory/sentinel_detail.html", {"sentinel": sentinel})


@login_required
@require_http_methods(["GET", "POST"])
def region_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV/XLSX of regions: a dry run shows per-row errors before anything is written."""
    _require(request, Capability.TERRITORY_MANAGE)
    form = RegionImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            record = imports.region_import_create(
                actor=request.user, upload=form.cleaned_data["file"]
            )
        except ServiceError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("territory:import_detail", pk=record.pk)
    recent = region_imports_visible_to(request.user).order_by("-created_at")[:10]
    return render(request, "territory/import.html", {"form": form, "recent": recent})


@login_required
def region_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The dry run's report, the apply button, and the progress of the applying task."""
    _require(request, Capability.TERRITORY_MANAGE)
    record = get_object_or_404(region_imports_visible_to(request.user), pk=pk)
    template = "territory/import_detail.html"
    if request.htmx:  # type: ignore[attr-defined]
        template += "#status"
    return render(request, template, {"record": record})


@login_required
@require_POST
def region_import_apply(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.TERRITORY_MANAGE)
    record = get_object_or_404(region_imports_visible_to(request.user), pk=pk)
    try:
        imports.region_import_queue(actor=request.user, record=record)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The import is queued; this page shows its progress."))
    return redirect("territory:import_detail", pk=pk)


@login_required
def region_import_template(request: HttpRequest) -> HttpResponse:
    """The XLSX template with the expected columns and an example row."""
    _require(request, Capability.TERRITORY_MANAGE)
    response = HttpResponse(
        imports.template_xlsx(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = 'attachment; filename="regions-template.xlsx"'
    return response
