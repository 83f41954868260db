"""The dashboards: one page per slice of the figures, its data and map as JSON, and the big screen.

Every page reads the slice from ``?scope=kind:id`` (the user's widest by default) through
``scope.parse_scope_key``: a slice outside the user's, or a user with none (inspectors,
administrators), is a 404. The page embeds its chart series (``json_script``) so it draws without
a second request; ``data.json`` serves the same series for the big screen's refresh, and
``map.json`` the map's GeoJSON (``charts.map_features``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from bihuan.reports import charts
from bihuan.reports.scope import FigureScope, parse_scope_key, scopes_of

# How often the big screen fetches its data again; ?refresh= may ask for 5 s to 1 h.
REFRESH_SECONDS = 60
REFRESH_RANGE = (5, 3600)
# The figures' own words carry their units (人次, 家, 条, 次); only the refunds need theirs said.
CARDS = (
    ("person_times", gettext_lazy("Inspector person-times")),
    ("institutions", gettext_lazy("Institutions screened")),
    ("leads", gettext_lazy("Leads fed back")),
    ("disguised_cases", gettext_lazy("Disguised tutoring cases dealt with")),
    ("refunds", gettext_lazy("Fees refunded (10,000 yuan)")),
)


def _scope(request: HttpRequest) -> FigureScope:
    return parse_scope_key(request.user, request.GET.get("scope"))


def _with_scope(name: str, scope: FigureScope) -> str:
    return f"{reverse(name)}?{urlencode({'scope': scope.key})}"


def _cards(scope: FigureScope, figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The five figures of the year to date, each linked to the records that make it up."""
    query = urlencode({"scope": scope.key, "period": "ytd"})
    cards = []
    for metric, label in CARDS:
        value = figures["refunds_wan"] if metric == "refunds" else figures[metric]
        cards.append(
            {
                "metric": metric,
                "label": label,
                "value": value,
                "visits": figures["visits"] if metric == "institutions" else None,
                "url": f"{reverse('reports:records', args=[metric])}?{query}",
            }
        )
    return cards


def _labels() -> dict[str, str]:
    """The charts' translated words, handed to the script with the data."""
    return {
        "leads": _("Leads"),
        "visits": _("Visits"),
        "person_times": _("Person-times"),
        "orders": _("Work orders"),
        "overdue": _("Overdue now"),
        "sign_rate": _("On-time signing rate (%)"),
        "reply_rate": _("On-time reply rate (%)"),
        "empty": _("No data for this slice yet."),
    }


def _page_context(request: HttpRequest, scope: FigureScope) -> dict[str, Any]:
    series = charts.dashboard_series(scope)
    return {
        "scope": scope,
        "scopes": scopes_of(request.user),
        "series": series,
        "labels": _labels(),
        "cards": _cards(scope, series["figures"]),
        "figures_url": f"{reverse('reports:figures')}?{urlencode({'scope': scope.key})}",
        "data_url": _with_scope("reports:dashboard_data", scope),
        "map_url": _with_scope("reports:dashboard_map", scope),
        "big_screen_url": _with_scope("reports:big_screen", scope),
        "dashboard_url": _with_scope("reports:dashboard", scope),
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
    }


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """A slice's dashboard: the five figures, the trends and the map."""
    scope = _scope(request)
    return render(request, "reports/dashboard.html", _page_context(request, scope))


@login_required
@require_GET
def dashboard_data(request: HttpRequest) -> JsonResponse:
    """The slice's chart series and figures as JSON (the big screen refreshes from it)."""
    series = charts.dashboard_series(_scope(request))
    return JsonResponse(series, json_dumps_params={"ensure_ascii": False})


@login_required
@require_GET
def dashboard_map(request: HttpRequest) -> JsonResponse:
    """GeoJSON of the slice's institutions (status, risk) and open leads, capped."""
    features = charts.map_features(_scope(request))
    return JsonResponse(features, json_dumps_params={"ensure_ascii": False})


def _refresh_seconds(value: str | None) -> int:
    try:
        seconds = int(value or REFRESH_SECONDS)
    except ValueError:
        return REFRESH_SECONDS
    low, high = REFRESH_RANGE
    return min(max(seconds, low), high)


@login_required
@require_GET
def big_screen(request: HttpRequest) -> HttpResponse:
    """The big screen (数据大屏): 1920×1080, dark, refreshing itself from ``data.json``."""
    scope = _scope(request)
    context = _page_context(request, scope)
    context["refresh_seconds"] = _refresh_seconds(request.GET.get("refresh"))
    return render(request, "reports/big_screen.html", context)
