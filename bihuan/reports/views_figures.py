"""The five figures of a slice and period, the records behind each, and the periodic report.

Every page reads the slice from ``?scope=kind:id`` through ``scope.parse_scope_key`` (a slice the
user may not read is a 404, and so is every page for a user with no slice at all) and the period
from ``periods``; then it makes one call to ``figures`` or ``report`` and renders.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from bihuan.core.exports import XLSX_TYPE, xlsx_response
from bihuan.reports import figures
from bihuan.reports.figures import METRICS, RecordList, RecordRow
from bihuan.reports.periods import (
    Period,
    parse_period,
    parse_report_period,
    recent_units,
    today,
    year_to_date,
)
from bihuan.reports.report import (
    METRIC_LABELS,
    RECORD_HEADER,
    build_report,
    child_regions,
    child_scope,
    kind_label,
    record_cells,
    report_workbook,
    shown,
)
from bihuan.reports.scope import FigureScope, parse_scope_key, scopes_of
from bihuan.reports.sentence import wan_yuan

PER_PAGE = 50
# Years of months, quarters and years a picker offers (older ones stay reachable by link).
PICKER_YEARS = 3
DETAIL_LABELS = {
    "person_times": gettext_lazy("Outcome or status"),
    "institutions": gettext_lazy("Visits"),
    "visits": gettext_lazy("Outcome"),
    "leads": gettext_lazy("Status"),
    "disguised_cases": gettext_lazy("Outcomes"),
    "refunds": gettext_lazy("Families"),
}


def _query(scope: FigureScope, period: Period, **extra: str) -> str:
    """The query string that opens a page on this slice and period again."""
    return urlencode({"scope": scope.key, **period.query, **extra})


def _pickers(request: HttpRequest, scope: FigureScope, period: Period) -> dict[str, Any]:
    """The user's slices and recent periods for the pickers, with the ones shown among them."""
    own = scopes_of(request.user)
    if all(s.key != scope.key for s in own):
        own = [*own, scope]  # a region below theirs, reached by a drill-down link
    units = recent_units(years=PICKER_YEARS)
    if period.kind != "range" and period not in units:
        units.append(period)  # an older period, reached by a link
    return {"scopes": own, "units": units}


@login_required
def figures_page(request: HttpRequest) -> HttpResponse:
    """The five figures of a slice for a period, each a link to its records."""
    scope = parse_scope_key(request.user, request.GET.get("scope"))
    period = parse_period(request.GET)
    numbers = figures.headline(scope, period.start, period.end)
    tiles = [
        {
            "metric": metric,
            "label": METRIC_LABELS[metric],
            "value": numbers.value(metric),
            "shown": shown(metric, numbers.value(metric)),
            "query": _query(scope, period),
        }
        for metric in METRICS
        if numbers.value(metric) is not None
    ]
    report_period = period if period.kind != "range" else year_to_date()
    context = {
        "scope": scope,
        "period": period,
        "tiles": tiles,
        "refunds_wan": wan_yuan(numbers.refunds_fen),
        "children": [
            {"region": r, "query": _query(child_scope(r), period)} for r in child_regions(scope)
        ],
        "report_query": _query(scope, report_period),
        **_pickers(request, scope, period),
    }
    return render(request, "reports/figures.html", context)


class _Rows:
    """A ``RecordList`` as the paginator wants it: a length and slices of rows."""

    def __init__(self, listed: RecordList, per_page: int) -> None:
        self.listed = listed
        self.per_page = per_page
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = self.listed.count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window: slice) -> list[RecordRow]:
        start, stop = window.start or 0, window.stop or 0
        return self.listed.page(start // self.per_page + 1, self.per_page)[: stop - start]


@login_required
def records_page(request: HttpRequest, metric: str) -> HttpResponse:
    """The records behind one figure, paged, with their sum (the figure); XLSX of them all."""
    if metric not in METRICS:
        raise Http404
    scope = parse_scope_key(request.user, request.GET.get("scope"))
    if scope.kind == "department" and metric in ("institutions", "visits"):
        raise Http404  # not a department's figure
    period = parse_period(request.GET)
    listed = figures.records(metric, scope, period.start, period.end)
    if request.GET.get("format") == "xlsx":
        header = [str(h) for h in RECORD_HEADER]
        cells = (record_cells(metric, row) for row in listed.rows())
        return xlsx_response(f"{metric}.xlsx", header, cells)
    # The paginator only needs count() and slices, which _Rows gives; it is not a Sequence.
    pageable: Any = _Rows(listed, PER_PAGE)
    page = Paginator(pageable, PER_PAGE).get_page(request.GET.get("page"))
    total = listed.total()
    context = {
        "scope": scope,
        "period": period,
        "metric": metric,
        "label": METRIC_LABELS[metric],
        "detail_label": DETAIL_LABELS[metric],
        "is_money": metric == "refunds",
        "page": page,
        "rows": [
            {"row": row, "kind": kind_label(row.kind), "weight": shown(metric, row.weight)}
            for row in page
        ],
        "total": total,
        "total_shown": shown(metric, total),
        "back_query": _query(scope, period),
    }
    return render(request, "reports/records.html", context)


@login_required
def report_page(request: HttpRequest) -> HttpResponse:
    """The monthly, quarterly or yearly report of a slice: printable, and as XLSX."""
    scope = parse_scope_key(request.user, request.GET.get("scope"))
    period = parse_report_period(request.GET)
    built = build_report(scope, period, today())
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(report_workbook(built), content_type=XLSX_TYPE)
        name = f"report-{scope.kind}-{scope.id}-{period.token}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    context = {
        "report": built,
        "scope": scope,
        "period": period,
        "query": _query(scope, period),
        "previous_query": _query(scope, built.previous),
        **_pickers(request, scope, period),
    }
    return render(request, "reports/report.html", context)
