"""The map of the registry, and the upload of community outlines with its report of what moved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from bihuan.accounts.policies import Capability, can
from bihuan.core.errors import ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.core.forms import check_upload
from bihuan.registry.boundaries import (
    BoundaryFileError,
    boundaries_import,
    boundary_imports_visible_to,
)
from bihuan.registry.forms import FilterForm
from bihuan.registry.models import Boundary, Category, Datum, Institution, Status
from bihuan.registry.search import search_institutions
from bihuan.registry.selectors import institutions_current
from bihuan.territory.models import Level, Region
from bihuan.territory.selectors import areas_visible_to, regions_visible_to

# Beyond these the map would be unreadable and the download slow: narrow the filters instead.
MAX_POINTS = 10_000
MAX_OUTLINES = 2_000
_REGION_CHOICES_LIMIT = 2_000
FILTER_KEYS = ("region", "area", "category", "status", "blacklisted", "q")


def _require(request: HttpRequest, capability: Capability) -> None:
    if not can(request.user, capability):
        raise Http404


# Filters: the institution list's own form, so the same query string means the same rows ---------


def map_filters(params: Mapping[str, str]) -> dict[str, Any]:
    """The usable filters of the query string (an unusable one is ignored, as on the list)."""
    values = FilterForm(params).values()
    return {key: values[key] for key in FILTER_KEYS if key in values}


def _visible_region(user: object, code: str) -> Region | None:
    return regions_visible_to(user).filter(code=code).first()


def institutions_on_map(user: object, filters: Mapping[str, Any]) -> QuerySet[Institution]:
    """The user's current institutions that match the filters (positioned or not)."""
    rows = institutions_current(user)
    if "region" in filters:
        region = _visible_region(user, filters["region"])
        rows = rows.filter(region.subtree_q("region")) if region else rows.none()
    if "area" in filters:
        rows = rows.filter(area_id=filters["area"])
    if "category" in filters:
        rows = rows.filter(category=filters["category"])
    if "status" in filters:
        rows = rows.filter(status=filters["status"])
    if "blacklisted" in filters:
        rows = rows.filter(is_blacklisted=filters["blacklisted"] == "1")
    if "q" in filters:
        rows = search_institutions(rows, filters["q"])
    return rows


def outlines_on_map(user: object, filters: Mapping[str, Any]) -> QuerySet[Boundary]:
    """Outlines of the visible communities, narrowed by the region and area filters."""
    communities = regions_visible_to(user).filter(level=Level.COMMUNITY)
    if "region" in filters:
        region = _visible_region(user, filters["region"])
        communities = communities.filter(region.subtree_q()) if region else communities.none()
    if "area" in filters:
        communities = communities.filter(community_areas__id=filters["area"])
    return Boundary.objects.filter(region__in=communities).select_related("region")


def _detail_url(pk: int) -> str:
    return reverse("registry:institution", args=[pk])


@login_required
@require_GET
def map_data(request: HttpRequest) -> JsonResponse:
    """GeoJSON (WGS-84) of the filtered institutions as points and the communities as outlines."""
    _require(request, Capability.REGISTRY_READ)
    filters = map_filters(request.GET)
    rows = institutions_on_map(request.user, filters)
    positioned = rows.filter(latitude__isnull=False, longitude__isnull=False)
    status_labels = dict(Status.choices)
    category_labels = dict(Category.choices)
    points = list(
        positioned.order_by("pk").values_list(
            "pk", "name", "status", "category", "is_blacklisted", "latitude", "longitude"
        )[: MAX_POINTS + 1]
    )
    outlines = list(
        outlines_on_map(request.user, filters).order_by("region__code")[: MAX_OUTLINES + 1]
    )
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": boundary.geometry,
            "properties": {
                "kind": "community",
                "code": boundary.region.code,
                "name": boundary.region.name,
            },
        }
        for boundary in outlines[:MAX_OUTLINES]
    ]
    for pk, name, status, category, blacklisted, lat, lng in points[:MAX_POINTS]:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(lng or 0), float(lat or 0)]},
                "properties": {
                    "kind": "institution",
                    "id": pk,
                    "name": name,
                    "status": status,
                    "status_label": str(status_labels.get(status, status)),
                    "category": category,
                    "category_label": str(category_labels.get(category, category)),
                    "blacklisted": blacklisted,
                    "url": _detail_url(pk),
                },
            }
        )
    return JsonResponse(
        {
            "type": "FeatureCollection",
            "features": features,
            "counts": {
                "points": min(len(points), MAX_POINTS),
                "without_position": rows.count() - positioned.count(),
                "outlines": min(len(outlines), MAX_OUTLINES),
            },
            "truncated": len(points) > MAX_POINTS or len(outlines) > MAX_OUTLINES,
        },
        json_dumps_params={"ensure_ascii": False},
    )


@login_required
@require_GET
def registry_map(request: HttpRequest) -> HttpResponse:
    """The map page: the list's filters above a Leaflet map drawn from our own static files."""
    _require(request, Capability.REGISTRY_READ)
    form = FilterForm(request.GET)
    query = urlencode(map_filters(request.GET))
    regions = regions_visible_to(request.user).filter(is_active=True).order_by("path")
    list_url = reverse("registry:institutions")
    return render(
        request,
        "registry/map.html",
        {
            "form": form,
            "data_url": reverse("registry:map_data") + (f"?{query}" if query else ""),
            "list_url": f"{list_url}?{query}" if query else list_url,
            "tile_url": settings.MAP_TILE_URL,
            "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
            "regions": regions.exclude(level=Level.COMMUNITY)[:_REGION_CHOICES_LIMIT],
            "communities": regions.filter(level=Level.COMMUNITY)[:_REGION_CHOICES_LIMIT],
            "areas": areas_visible_to(request.user).filter(is_active=True),
            "statuses": Status.choices,
        },
    )


# Boundaries --------------------------------------------------------------------------------------


class BoundaryUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("GeoJSON file"),
        help_text=gettext_lazy(
            "A FeatureCollection of Polygon or MultiPolygon features whose properties carry the "
            "community's division code (code, 区划代码 or adcode). UTF-8 or GBK."
        ),
    )
    datum = forms.ChoiceField(
        label=gettext_lazy("Coordinates"),
        required=False,
        choices=[
            ("", gettext_lazy("as the file says (WGS-84 if it says nothing)")),
            *Datum.choices,
        ],
    )

    def clean_file(self) -> UploadedFile:
        return check_upload(
            self.cleaned_data["file"],
            (".geojson", ".json"),
            _("Only .geojson and .json files are accepted."),
        )


@login_required
@require_http_methods(["GET", "POST"])
def boundaries(request: HttpRequest) -> HttpResponse:
    """Upload community outlines; the institutions they concern are placed again at once."""
    _require(request, Capability.TERRITORY_MANAGE)
    form = BoundaryUploadForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            record = boundaries_import(
                actor=request.user,
                data=upload.read(),
                filename=upload.name or "",
                datum=form.cleaned_data["datum"],
            )
        except ServiceError as exc:
            form.add_error("file", exc.message)
            if isinstance(exc, BoundaryFileError):
                errors = exc.errors
        else:
            if record.is_open:
                messages.success(request, _("The file is large: it is applied in the background."))
            else:
                messages.success(request, _("Outlines imported."))
            return redirect("registry:boundary_import", pk=record.pk)
    return render(
        request,
        "registry/boundaries.html",
        {
            "form": form,
            "errors": errors,
            "recent": boundary_imports_visible_to(request.user)[:20],
            "outline_count": Boundary.objects.count(),
            "max_mb": settings.IMPORT_MAX_BYTES // (1024 * 1024),
        },
    )


@login_required
@require_GET
def boundary_import(request: HttpRequest, pk: int) -> HttpResponse:
    """What an import changed: outlines created, updated or repaired, and institutions moved."""
    _require(request, Capability.TERRITORY_MANAGE)
    record = get_object_or_404(boundary_imports_visible_to(request.user), pk=pk)
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            f"boundary-import-{record.pk}.xlsx",
            [
                _("Institution ID"),
                _("Institution"),
                _("From community code"),
                _("From community"),
                _("To community code"),
                _("To community"),
            ],
            (
                (m["institution"], m["name"], m["from"], m["from_name"], m["to"], m["to_name"])
                for m in record.moved
            ),
        )
    template = "registry/boundary_import.html"
    if request.htmx:  # type: ignore[attr-defined]
        template += "#status"
    return render(request, template, {"record": record})


__all__ = [
    "boundaries",
    "boundary_import",
    "institutions_on_map",
    "map_data",
    "map_filters",
    "outlines_on_map",
    "registry_map",
]
