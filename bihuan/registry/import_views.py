"""Pages of the registry import: upload and dry run, the template, progress, apply, error report.

Registry managers only (404 for everyone else), and each sees only their own imports.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.exports import XLSX_TYPE, xlsx_response
from bihuan.registry import imports
from bihuan.registry.models import ImportRow, Institution
from bihuan.registry.selectors import institution_imports_visible_to
from bihuan.territory.models import Level, Region
from bihuan.territory.selectors import regions_visible_to

ROWS_PER_PAGE = 50
# Column labels of the changes a dry-run row shows, by attribute name ("region_id" too).
_LABELS = {f.attname: f.verbose_name for f in Institution._meta.concrete_fields}


def import_regions(user: Any) -> QuerySet[Region]:
    """Where the user may import to: the province, city and district levels of their scope, and
    the places they were granted themselves (a street supervisor imports into the street)."""
    scope = scope_of(user)
    return regions_visible_to(user).filter(
        Q(level__in=[Level.PROVINCE, Level.CITY, Level.DISTRICT]) | Q(path__in=scope.paths)
    )


class InstitutionImportForm(forms.Form):
    region = forms.ModelChoiceField(
        label=gettext_lazy("Import into"),
        queryset=Region.objects.none(),
        help_text=gettext_lazy(
            "Rows without a division code are placed here; division codes must lie within it."
        ),
    )
    file = forms.FileField(
        label=gettext_lazy("CSV or XLSX file"),
        help_text=gettext_lazy("UTF-8 or GBK CSV, or XLSX. Download the template for the columns."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        regions = import_regions(user)
        region_field: Any = self.fields["region"]
        region_field.queryset = regions
        first = regions.order_by("path").first()
        if first is not None:
            region_field.initial = first.pk

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        if upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB.")
                % {"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)}
            )
        return upload


def _require(request: HttpRequest) -> None:
    if not can(request.user, Capability.REGISTRY_MANAGE):
        raise Http404


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """Upload a registry file: it is checked (a dry run) before anything is written."""
    _require(request)
    form = InstitutionImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            record = imports.institution_import_create(
                actor=request.user,
                upload=form.cleaned_data["file"],
                region=form.cleaned_data["region"],
            )
        except NotAllowed as exc:
            form.add_error("region", exc.message)
        except ServiceError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("registry:import_detail", pk=record.pk)
    recent = institution_imports_visible_to(request.user).select_related("region")[:10]
    return render(
        request,
        "registry/import.html",
        {"form": form, "recent": recent, "max_mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)},
    )


def _row_view(row: ImportRow, names: dict[int, str]) -> dict[str, Any]:
    data = row.data
    candidate = data.get("candidate") or {}
    return {
        "line": row.line,
        "action": row.action,
        "label": row.get_action_display(),
        "name": data.get("name", ""),
        "key": data.get("credit_code") or data.get("licence_number") or "",
        "errors": row.errors,
        "changes": [
            (_LABELS.get(key, key), before, after)
            for key, (before, after) in (data.get("changes") or {}).items()
        ],
        "institution": names.get(row.institution_id or 0, ""),
        "candidate": names.get(candidate.get("id", 0), ""),
        "score": (data.get("match") or candidate).get("score"),
    }


@login_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The dry run's report, the apply button, and the progress of either task (htmx polls it)."""
    _require(request)
    record = get_object_or_404(
        institution_imports_visible_to(request.user).select_related("region"), pk=pk
    )
    context: dict[str, Any] = {"record": record, "checked": imports.is_checked(record)}
    if request.htmx:  # type: ignore[attr-defined]
        if not record.is_open:
            # Finished since the page was drawn: draw it again with the report.
            return HttpResponseClientRefresh()
        return render(request, "registry/import_detail.html#status", context)
    action = request.GET.get("action", "")
    rows = record.rows.all()
    if action in ImportRow.Action.values:
        rows = rows.filter(action=action)
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    wanted = {r.institution_id for r in page if r.institution_id}
    wanted |= {r.data["candidate"]["id"] for r in page if r.data.get("candidate")}
    names = dict(Institution.objects.filter(pk__in=wanted).values_list("pk", "name"))
    summary = record.summary
    counts = [
        (value, label, summary.get(value, 0))
        for value, label in ImportRow.Action.choices
        if summary.get(value)
    ]
    context |= {
        "page": page,
        "rows": [_row_view(r, names) for r in page],
        "action": action,
        "counts": counts,
    }
    return render(request, "registry/import_detail.html", context)


@login_required
@require_POST
def import_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm a checked import: the APPLY task writes it, all or nothing."""
    _require(request)
    record = get_object_or_404(institution_imports_visible_to(request.user), pk=pk)
    try:
        imports.institution_import_queue(actor=request.user, record=record)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The import is queued; this page shows its progress."))
    return redirect("registry:import_detail", pk=pk)


@login_required
def import_errors(request: HttpRequest, pk: int) -> HttpResponse:
    """The rows with errors as XLSX: the cells as uploaded and what is wrong with them."""
    _require(request)
    record = get_object_or_404(institution_imports_visible_to(request.user), pk=pk)
    header, rows = imports.error_report(record)
    return xlsx_response(f"import-{record.pk}-errors.xlsx", header, rows)


@login_required
def import_template(request: HttpRequest) -> HttpResponse:
    """The XLSX template: the columns the import reads, two example rows and notes."""
    _require(request)
    response = HttpResponse(imports.template_xlsx(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = 'attachment; filename="institutions-template.xlsx"'
    return response
