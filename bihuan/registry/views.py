"""Pages of the registry: the institution list, an institution's page, its forms, the review queue.

Every institution comes from a scoped selector: one outside the user's place is a 404, and so is
a page the user's roles may not use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from bihuan.accounts.policies import Capability, can
from bihuan.core.errors import ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.core.forms import flash_form_errors
from bihuan.registry import forms, merge, services
from bihuan.registry.history import history_entries, institution_merged_from
from bihuan.registry.models import Institution, MatchCandidate, MatchStatus, Source
from bihuan.registry.search import search_institutions
from bihuan.registry.selectors import (
    institutions_current,
    institutions_visible_to,
    match_candidates_visible_to,
)
from bihuan.territory.models import Level
from bihuan.territory.selectors import areas_visible_to, regions_visible_to

PAGE_SIZE = 50
ORDERINGS = {
    "name": ("name_normalized", "pk"),
    "-created": ("-created_at", "-pk"),
    "status": ("status", "name_normalized", "pk"),
}
# The list's region filter offers the places above communities and, in a small scope, these too.
REGION_CHOICES_MAX = 300


def _require(request: HttpRequest, capability: Capability) -> None:
    if not can(request.user, capability):
        raise Http404


def _filtered(request: HttpRequest, values: dict[str, Any]) -> QuerySet[Institution]:
    rows = institutions_current(request.user).select_related("region", "community", "area")
    if "region" in values:
        region = regions_visible_to(request.user).filter(code=values["region"]).first()
        rows = rows.filter(region__path__startswith=region.path) if region else rows.none()
    if "area" in values:
        rows = rows.filter(area_id=values["area"])
    if "category" in values:
        rows = rows.filter(category=values["category"])
    if "status" in values:
        rows = rows.filter(status=values["status"])
    if "blacklisted" in values:
        rows = rows.filter(is_blacklisted=values["blacklisted"] == "1")
    if "q" in values:
        rows = search_institutions(rows, values["q"])
        if "sort" not in values:
            return rows  # best matches first
    return rows.order_by(*ORDERINGS[values.get("sort", "name")])


def _phone(request: HttpRequest, institution: Institution) -> str:
    if can(request.user, Capability.INSTITUTION_CONTACT_READ):
        return institution.contact_phone
    return institution.masked_phone


def _export_rows(request: HttpRequest, rows: QuerySet[Institution]) -> Iterator[list[Any]]:
    full_phone = can(request.user, Capability.INSTITUTION_CONTACT_READ)
    for i in rows.iterator(chunk_size=2000):
        yield [
            i.name,
            i.credit_code,
            i.licence_number,
            i.get_category_display(),
            i.get_status_display(),
            i.is_blacklisted,
            i.blacklist_reason,
            i.operator_name,
            i.contact_phone if full_phone else i.masked_phone,
            i.address,
            i.region.code,
            i.region.name,
            i.community.name if i.community else "",
            i.area.name if i.area else "",
            i.latitude,
            i.longitude,
            i.created_at,
        ]


EXPORT_HEADER = [
    gettext_lazy("Name"),
    gettext_lazy("Unified social credit code"),
    gettext_lazy("School-running licence number"),
    gettext_lazy("Licence category"),
    gettext_lazy("Status"),
    gettext_lazy("Blacklisted"),
    gettext_lazy("Blacklist reason"),
    gettext_lazy("Operator"),
    gettext_lazy("Contact phone"),
    gettext_lazy("Address"),
    gettext_lazy("Region code"),
    gettext_lazy("Region"),
    gettext_lazy("Community"),
    gettext_lazy("Area"),
    gettext_lazy("Latitude (WGS-84)"),
    gettext_lazy("Longitude (WGS-84)"),
    gettext_lazy("Created"),
]


@login_required
def institutions(request: HttpRequest) -> HttpResponse:
    """The institutions of the user's place, filtered, searched, sorted, paged and exportable."""
    _require(request, Capability.REGISTRY_READ)
    form = forms.FilterForm(request.GET)
    values = form.values()
    rows = _filtered(request, values)
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            "institutions.xlsx", [str(h) for h in EXPORT_HEADER], _export_rows(request, rows)
        )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for institution in page:
        institution.shown_phone = _phone(request, institution)  # type: ignore[attr-defined]
    context = {"page": page, "form": form, "values": values}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "registry/list.html#results", context)
    regions = regions_visible_to(request.user).filter(is_active=True).order_by("path")
    context |= {
        "regions": regions.exclude(level=Level.COMMUNITY)[:REGION_CHOICES_MAX],
        "communities": regions.filter(level=Level.COMMUNITY)[:REGION_CHOICES_MAX],
        "areas": areas_visible_to(request.user).filter(is_active=True),
        "can_manage": can(request.user, Capability.REGISTRY_MANAGE),
    }
    return render(request, "registry/list.html", context)


@login_required
def institution_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """All that is known of one institution, with the records merged into it and its history."""
    _require(request, Capability.REGISTRY_READ)
    institution = get_object_or_404(
        institutions_visible_to(request.user).select_related(
            "region", "community", "area", "merged_into"
        ),
        pk=pk,
    )
    can_manage = can(request.user, Capability.REGISTRY_MANAGE) and not institution.is_merged
    context = {
        "institution": institution,
        "phone": _phone(request, institution),
        "courses": institution.courses.all(),
        "merged_from": institution_merged_from(institution),
        "history": history_entries(institution),
        "can_manage": can_manage,
    }
    if can_manage:
        context |= {
            "status_form": forms.StatusForm(
                # The moves the status service allows from here (its table is the one truth).
                allowed=services.STATUS_MOVES.get(institution.status, set())
            ),
            "blacklist_form": forms.BlacklistForm(),
            "course_form": forms.CourseForm(),
        }
    return render(request, "registry/detail.html", context)


def _form_error(form: Any, exc: ServiceError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@login_required
@sensitive_post_parameters("contact_phone")
@require_http_methods(["GET", "POST"])
def institution_create(request: HttpRequest) -> HttpResponse:
    """Register an institution by hand."""
    _require(request, Capability.REGISTRY_MANAGE)
    form = forms.InstitutionCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        code = data.pop("region_code")
        region = regions_visible_to(request.user).filter(code=code).first()
        if region is None:
            form.add_error("region_code", _("No region has code %(c)s.") % {"c": code})
        else:
            try:
                institution = services.institution_create(
                    actor=request.user, region=region, source=Source.MANUAL, **data
                )
            except ServiceError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Institution registered."))
                return redirect("registry:institution", pk=institution.pk)
    return render(request, "registry/form.html", {"form": form, "institution": None})


def _managed(request: HttpRequest, pk: int) -> Institution:
    """A current institution in the user's place that the user may change, else 404."""
    _require(request, Capability.REGISTRY_MANAGE)
    return get_object_or_404(institutions_current(request.user), pk=pk)


@login_required
@sensitive_post_parameters("contact_phone")
@require_http_methods(["GET", "POST"])
def institution_edit(request: HttpRequest, pk: int) -> HttpResponse:
    institution = _managed(request, pk)
    if request.method == "POST":
        form = forms.InstitutionEditForm(request.POST)
        if form.is_valid():
            try:
                services.institution_update(
                    actor=request.user, institution=institution, **form.cleaned_data
                )
            except ServiceError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Changes saved."))
                return redirect("registry:institution", pk=pk)
    else:
        form = forms.InstitutionEditForm.for_institution(institution)
    return render(request, "registry/form.html", {"form": form, "institution": institution})


@login_required
@require_POST
def institution_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve, suspend, close or reopen."""
    institution = _managed(request, pk)
    form = forms.StatusForm(request.POST)
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect("registry:institution", pk=pk)
    try:
        services.institution_set_status(
            actor=request.user, institution=institution, **form.cleaned_data
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Status changed."))
    return redirect("registry:institution", pk=pk)


@login_required
@require_POST
def institution_blacklist(request: HttpRequest, pk: int) -> HttpResponse:
    institution = _managed(request, pk)
    form = forms.BlacklistForm(request.POST)
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect("registry:institution", pk=pk)
    try:
        services.institution_set_blacklist(
            actor=request.user, institution=institution, **form.cleaned_data
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Put on the blacklist.")
            if form.cleaned_data["blacklisted"]
            else _("Taken off the blacklist."),
        )
    return redirect("registry:institution", pk=pk)


@login_required
@require_POST
def course_add(request: HttpRequest, pk: int) -> HttpResponse:
    institution = _managed(request, pk)
    form = forms.CourseForm(request.POST)
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect("registry:institution", pk=pk)
    try:
        services.course_add(actor=request.user, institution=institution, **form.cleaned_data)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Course added."))
    return redirect("registry:institution", pk=pk)


def _open_pairs(request: HttpRequest) -> QuerySet[MatchCandidate]:
    return match_candidates_visible_to(request.user).filter(
        status=MatchStatus.PENDING,
        institution__merged_into__isnull=True,
        candidate__merged_into__isnull=True,
    )


@login_required
def review(request: HttpRequest) -> HttpResponse:
    """Pairs the matcher could not decide, most alike first."""
    _require(request, Capability.REGISTRY_MANAGE)
    rows = (
        _open_pairs(request)
        .select_related("institution__region", "candidate__region")
        .order_by("-score", "pk")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    full_phone = can(request.user, Capability.INSTITUTION_CONTACT_READ)
    return render(request, "registry/review.html", {"page": page, "full_phone": full_phone})


@login_required
@require_POST
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.REGISTRY_MANAGE)
    candidate = get_object_or_404(_open_pairs(request), pk=pk)
    form = forms.DecisionForm(request.POST)
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect("registry:review")
    try:
        merge.review_decide(actor=request.user, candidate=candidate, same=form.cleaned_data["same"])
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Merged into one record.")
            if form.cleaned_data["same"]
            else _("Kept as two institutions."),
        )
    return redirect("registry:review")
