"""The loop's health page: ranking tables by department, district or area, and their XLSX.

Parse the slice (``?scope=kind:id``, a slice the user may not read is a 404), the period
(``periods.parse_period``), the dimension (``?by=``) and the sort (``?sort=``); make one call to
``health.loop_health``; render. An htmx request (a click on a column heading) gets the table only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext, gettext_lazy

from bihuan.core.exports import xlsx_response
from bihuan.reports.health import (
    DIMENSIONS,
    Dimension,
    Health,
    HealthRow,
    best_first,
    loop_health,
    parse_sort,
)
from bihuan.reports.periods import parse_period, recent_units
from bihuan.reports.scope import parse_scope_key, scopes_of

PICKER_YEARS = 3
DIMENSION_LABELS: dict[str, Any] = {
    "department": gettext_lazy("By department"),
    "district": gettext_lazy("By district"),
    "area": gettext_lazy("By area"),
}
NAME_HEADINGS: dict[str, Any] = {
    "department": gettext_lazy("Department"),
    "district": gettext_lazy("District"),
    "area": gettext_lazy("Area"),
}
# The table's columns after the name, in order: (sort key, heading).
HEADINGS: list[tuple[str, Any]] = [
    ("orders", gettext_lazy("Orders dispatched")),
    ("sign_rate", gettext_lazy("Signed on time")),
    ("reply_rate", gettext_lazy("Replied on time")),
    ("overdue_now", gettext_lazy("Overdue now")),
    ("redo_rate", gettext_lazy("Redo rate")),
    ("extensions", gettext_lazy("Extensions (approved)")),
    ("returns", gettext_lazy("Returns (granted)")),
    ("closed", gettext_lazy("Leads closed")),
    ("days_mean", gettext_lazy("Mean working days to close")),
    ("days_p90", gettext_lazy("90th percentile working days to close")),
]
EXPORT_HEADER: list[Any] = [
    gettext_lazy("Name"),
    gettext_lazy("Orders dispatched"),
    gettext_lazy("Signed on time"),
    gettext_lazy("Signed or past the signing deadline"),
    gettext_lazy("On-time signing rate"),
    gettext_lazy("Replied on time"),
    gettext_lazy("Replied or past the reply deadline"),
    gettext_lazy("On-time reply rate"),
    gettext_lazy("Overdue now"),
    gettext_lazy("Sent back for redo"),
    gettext_lazy("Replied"),
    gettext_lazy("Redo rate"),
    gettext_lazy("Extension requests"),
    gettext_lazy("Extensions approved"),
    gettext_lazy("Return requests"),
    gettext_lazy("Returns granted"),
    gettext_lazy("Leads closed"),
    gettext_lazy("Mean working days to close"),
    gettext_lazy("90th percentile working days to close"),
]


def _rate(value: float | None) -> float | None:
    # A fraction rounded for the sheet; the page shows it as a percentage.
    return None if value is None else round(value, 4)


def _cells(row: HealthRow) -> list[Any]:
    mean = row.days_mean
    return [
        row.label,
        row.orders,
        row.signed_on_time,
        row.sign_counted,
        _rate(row.sign_rate),
        row.replied_on_time,
        row.reply_counted,
        _rate(row.reply_rate),
        row.overdue_now,
        row.redone,
        row.replied,
        _rate(row.redo_rate),
        row.extensions,
        row.extensions_approved,
        row.returns,
        row.returns_granted,
        row.closed,
        None if mean is None else round(mean, 2),
        row.days_p90,
    ]


def _export_rows(report: Health, total_label: str) -> Iterator[list[Any]]:
    for row in report.rows:
        yield _cells(row)
    yield [total_label, *_cells(report.total)[1:]]


def _dimension(value: str | None) -> Dimension:
    for dimension in DIMENSIONS:
        if value == dimension:
            return dimension
    return "department"


@login_required
def health_page(request: HttpRequest) -> HttpResponse:
    """The loop's health of a slice in a period, ranked by department, district or area."""
    scope = parse_scope_key(request.user, request.GET.get("scope"))
    period = parse_period(request.GET)
    dimension = _dimension(request.GET.get("by"))
    sort = parse_sort(request.GET.get("sort"))
    report = loop_health(scope, period.start, period.end, dimension, sort)
    base = {"scope": scope.key, **period.query, "by": dimension}
    if request.GET.get("format") == "xlsx":
        header = [str(h) for h in EXPORT_HEADER]
        header[0] = str(NAME_HEADINGS[dimension])
        name = f"health-{dimension}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.xlsx"
        return xlsx_response(name, header, _export_rows(report, gettext("Total")))
    columns = [("label", NAME_HEADINGS[dimension]), *HEADINGS]
    headings = []
    for key, title in columns:
        current = sort.removeprefix("-") == key
        target = (sort[1:] if sort.startswith("-") else f"-{key}") if current else best_first(key)
        headings.append(
            {
                "title": title,
                "query": urlencode({**base, "sort": target}),
                "current": current,
                "descending": current and sort.startswith("-"),
                "numeric": key != "label",
            }
        )
    own = scopes_of(request.user)
    if all(s.key != scope.key for s in own):
        own = [*own, scope]
    context = {
        "report": report,
        "scope": scope,
        "scopes": own,
        "period": period,
        "units": recent_units(years=PICKER_YEARS),
        "dimension": dimension,
        "tabs": [
            (key, label, urlencode({**base, "by": key, "sort": sort}), key == dimension)
            for key, label in DIMENSION_LABELS.items()
        ],
        "headings": headings,
        "export_query": urlencode({**base, "sort": sort, "format": "xlsx"}),
    }
    if getattr(request, "htmx", False):
        return render(request, "reports/health.html#table", context)
    return render(request, "reports/health.html", context)
