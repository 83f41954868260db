"""The dashboards' data: chart series and the map's features for one slice of the figures.

Everything here takes a ``FigureScope`` (``bihuan/reports/scope.py``) the view has already checked,
and returns plain dicts and lists ready for JSON: the page embeds them (``json_script``) for the
first render and ``data.json`` serves the same dict for the big screen's refresh, so both always
show the same numbers.

The series:

* **figures**: the five headline figures of the year to date (``figures.headline``), with visits.
* **trend**: leads, visits and person-times per calendar month, the last 12 months including the
  current one (up to today); ``figures.headlines`` reads the rollups once for all twelve months.
* **groups**: leads created this year in the slice, not merged away, per violation group. A lead
  classified under two groups counts in both, so the bars may add up to more than the leads
  figure; a lead not classified yet counts under "Not classified".
* **departments**: the loop's health per department this year (``health.loop_health``, whose
  docstring defines each measure): work orders dispatched, overdue now, on-time signing and reply
  rates in percent; the busiest ``MAX_DEPARTMENTS`` departments.

Which records a slice holds, for the charts and the map: a region slice holds the leads and
institutions whose region lies at or under it; an area slice those of the area; a department
slice the leads with a live work order of the department (as ``figures`` counts them), and, on
the map, the institutions those leads concern (a department has no institutions of its own: what
it sees of the registry is what it was sent).

The map is GeoJSON, capped at ``MAX_INSTITUTIONS`` institutions and ``MAX_LEADS`` open leads
(``truncated`` says when more exist): beyond that a browser draws slowly and nobody reads the
map; the lists and figures stay exact. An institution carries its status and the risk score that
orders the screening rounds (``screening.generation.risk_score``, fed the same inputs as round
generation gathers; a test holds the two equal), banded low / medium / high for its colour. An
open lead is placed where it was reported, else at its institution; one with neither is not drawn.
"""

from __future__ import annotations

import calendar
import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.leads.models import Lead, WorkOrder
from bihuan.leads.workflow import LEAD_OPEN, ORDER_LIVE, LeadStatus
from bihuan.registry.models import Category, Institution, Status
from bihuan.reports import figures, health
from bihuan.reports.scope import FigureScope
from bihuan.reports.sentence import wan_yuan
from bihuan.screening.generation import risk_inputs
from bihuan.territory.models import Region

TREND_MONTHS = 12
MAX_GROUPS = 20
MAX_DEPARTMENTS = 15
MAX_INSTITUTIONS = 5_000
MAX_LEADS = 2_000
# The map's colour bands of the round's risk score. Never inspected alone scores 13, an open lead
# 10: high needs two such reasons (an open lead at a place not seen for 10 months or more, or never
# seen, pending and unlicensed); medium is one; low is a place seen lately with nothing open.
RISK_HIGH = 20
RISK_MEDIUM = 10


# ---------------------------------------------------------------------------- slices


def _region(scope: FigureScope) -> Region:
    return Region(pk=scope.id, path=scope.path)


def leads_in(scope: FigureScope) -> QuerySet[Lead]:
    """The leads of the slice (every status)."""
    if scope.kind == "region":
        return Lead.objects.filter(_region(scope).subtree_q("region"))
    if scope.kind == "area":
        return Lead.objects.filter(area_id=scope.id)
    # As the figures count them: leads with a live order of the department (ORDER_LIVE).
    orders = WorkOrder.objects.filter(
        lead=OuterRef("pk"), department_id=scope.id, status__in=sorted(ORDER_LIVE)
    )
    return Lead.objects.filter(Exists(orders))


def institutions_in(scope: FigureScope) -> QuerySet[Institution]:
    """The current institutions of the slice (merged-away duplicates left out)."""
    rows = Institution.objects.filter(merged_into__isnull=True)
    if scope.kind == "region":
        return rows.filter(_region(scope).subtree_q("region"))
    if scope.kind == "area":
        return rows.filter(area_id=scope.id)
    return rows.filter(pk__in=leads_in(scope).values("institution_id"))


# ---------------------------------------------------------------------------- periods


def _month_end(day: datetime.date) -> datetime.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def last_months(
    today: datetime.date, count: int = TREND_MONTHS
) -> list[tuple[datetime.date, datetime.date]]:
    """First and last day (today for this month) of the last ``count`` months, oldest first."""
    months: list[tuple[datetime.date, datetime.date]] = []
    first = today.replace(day=1)
    for _i in range(count):
        months.append((first, min(_month_end(first), today)))
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return months[::-1]


# ---------------------------------------------------------------------------- series


def headline_cards(scope: FigureScope, start: datetime.date, end: datetime.date) -> dict[str, Any]:
    """The five figures (and visits) of the period as plain numbers; refunds also in 万元."""
    values = figures.headline(scope, start, end)
    return {
        "person_times": values.person_times,
        "institutions": values.institutions,
        "visits": values.visits,
        "leads": values.leads,
        "disguised_cases": values.disguised_cases,
        "refunds_fen": values.refunds_fen,
        "refunds_wan": wan_yuan(values.refunds_fen),
    }


def monthly_trend(scope: FigureScope, today: datetime.date) -> dict[str, Any]:
    """Leads, visits and person-times per month of the last 12 (a department's visits: None)."""
    months = last_months(today)
    values = figures.headlines(scope, list(months))
    return {
        "months": [f"{start:%Y-%m}" for start, _end in months],
        "leads": [v.leads for v in values],
        "visits": [v.visits for v in values],
        "person_times": [v.person_times for v in values],
    }


def leads_by_group(scope: FigureScope, start: datetime.date, end: datetime.date) -> dict[str, Any]:
    """Leads created in the period (not merged away) per violation group, largest first."""
    rows = (
        figures.leads_in(scope, start, end)
        .order_by()
        .values("violation_types__group__code", "violation_types__group__name")
        .annotate(n=Count("pk", distinct=True))
        .order_by("-n", "violation_types__group__code")
    )
    labels: list[str] = []
    counts: list[int] = []
    for row in rows[:MAX_GROUPS]:
        code = row["violation_types__group__code"]
        labels.append(
            f"{code} {row['violation_types__group__name']}" if code else _("Not classified")
        )
        counts.append(row["n"])
    return {"labels": labels, "leads": counts}


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def orders_by_department(
    scope: FigureScope, start: datetime.date, end: datetime.date, now: datetime.datetime
) -> dict[str, Any]:
    """Work orders dispatched in the period per department, with the loop's health measures."""
    rows = health.loop_health(scope, start, end, "department", now=now).rows
    rows = sorted(rows, key=lambda row: (-row.orders, row.label))[:MAX_DEPARTMENTS]
    return {
        "labels": [row.label for row in rows],
        "orders": [row.orders for row in rows],
        "overdue": [row.overdue_now for row in rows],
        "sign_rate": [_percent(row.sign_rate) for row in rows],
        "reply_rate": [_percent(row.reply_rate) for row in rows],
    }


def dashboard_series(scope: FigureScope, today: datetime.date | None = None) -> dict[str, Any]:
    """Everything a dashboard draws for the slice: figures of the year to date and the charts."""
    today = today or timezone.localdate()
    start = today.replace(month=1, day=1)
    return {
        "scope": scope.key,
        "label": scope.label,
        "year": today.year,
        "as_of": today.isoformat(),
        "figures": headline_cards(scope, start, today),
        "trend": monthly_trend(scope, today),
        "groups": leads_by_group(scope, start, today),
        "departments": orders_by_department(scope, start, today, timezone.now()),
    }


# ---------------------------------------------------------------------------- the map


def risk_band(score: int) -> str:
    """The map's colour band of a risk score."""
    if score >= RISK_HIGH:
        return "high"
    if score >= RISK_MEDIUM:
        return "medium"
    return "low"


def risk_scores(ids: list[int], today: datetime.date) -> dict[int, int]:
    """``risk_score`` of each institution, from the inputs round generation uses."""
    if not ids:
        return {}
    inputs = risk_inputs(ids)
    kinds = Institution.objects.filter(pk__in=ids).values_list("pk", "status", "category")
    return {
        pk: inputs.score(
            pk, today, is_pending=status == Status.PENDING, is_unlicensed=category == Category.NONE
        )
        for pk, status, category in kinds
    }


def _point(lat: Any, lng: Any) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [float(lng), float(lat)]}


def map_features(scope: FigureScope, today: datetime.date | None = None) -> dict[str, Any]:
    """GeoJSON of the slice: institutions (status, risk) and open leads, each with a position."""
    today = today or timezone.localdate()
    placed = institutions_in(scope).filter(latitude__isnull=False, longitude__isnull=False)
    institutions = list(
        placed.order_by("pk").values_list("pk", "name", "status", "latitude", "longitude")[
            : MAX_INSTITUTIONS + 1
        ]
    )
    shown = institutions[:MAX_INSTITUTIONS]
    scores = risk_scores([row[0] for row in shown], today)
    status_labels = dict(Status.choices)
    features: list[dict[str, Any]] = []
    for pk, name, status, lat, lng in shown:
        score = scores.get(pk, 0)
        features.append(
            {
                "type": "Feature",
                "geometry": _point(lat, lng),
                "properties": {
                    "kind": "institution",
                    "id": pk,
                    "name": name,
                    "status": status,
                    "status_label": str(status_labels.get(status, status)),
                    "risk": score,
                    "risk_band": risk_band(score),
                    "url": reverse("registry:institution", args=[pk]),
                },
            }
        )
    # A lead reported at an unknown place has no position of its own: use its institution's.
    leads = list(
        leads_in(scope)
        .filter(status__in=sorted(LEAD_OPEN))
        .filter(
            Q(latitude__isnull=False, longitude__isnull=False)
            | Q(institution__latitude__isnull=False, institution__longitude__isnull=False)
        )
        .order_by("-created_at", "-pk")
        .values_list(
            "pk",
            "reference",
            "status",
            "place_name",
            "institution__name",
            "latitude",
            "longitude",
            "institution__latitude",
            "institution__longitude",
        )[: MAX_LEADS + 1]
    )
    lead_labels = dict(LeadStatus.choices)
    for pk, reference, status, place, institution, lat, lng, i_lat, i_lng in leads[:MAX_LEADS]:
        has_own = lat is not None and lng is not None
        features.append(
            {
                "type": "Feature",
                "geometry": _point(lat, lng) if has_own else _point(i_lat, i_lng),
                "properties": {
                    "kind": "lead",
                    "id": pk,
                    "name": f"{reference} {institution or place}".strip(),
                    "status": status,
                    "status_label": str(lead_labels.get(status, status)),
                    "url": reverse("leads:detail", args=[pk]),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "counts": {"institutions": len(shown), "leads": min(len(leads), MAX_LEADS)},
        "truncated": len(institutions) > MAX_INSTITUTIONS or len(leads) > MAX_LEADS,
    }
