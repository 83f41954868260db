"""The loop's health: how departments, districts and areas keep the clock, as ranking tables.

Every measure below is read from the work orders, extension requests, audit events and leads of
one slice (``FigureScope``) and one period of calendar days in Asia/Shanghai, both ends included.

* **Orders counted**: work orders dispatched in the period (their ``created_at``), reassigned ones
  included: each is a department's share that was once on its desk.
* **On-time signing rate** = orders signed on or before ``sign_due`` ÷ orders that were signed or
  are past their ``sign_due``. Past due without signing means: still awaiting signature after the
  deadline, or returned (退单) only after the deadline had passed. An order returned in time and
  still waiting for the bureau's decision, or reassigned by the bureau before it was signed, is in
  neither count. The deadline is the one in force: refusing a return restarts the clock.
* **On-time reply rate** = orders whose current reply came on or before ``reply_due`` ÷ orders
  that replied or are past their ``reply_due`` (signed and still without a reply after it, or
  returned after it). ``reply_due`` is the deadline in force: after an approved extension the
  longer one, after a redo the redo's deadline (the latest round is the one judged).
* **Overdue now**: open orders past their deadline at the moment of the request (awaiting
  signature after ``sign_due``, or signed and not replied after ``reply_due``), whatever the
  period: an order dispatched last year and still late is the first thing a ranking must show.
* **Redo rate** = orders sent back at least once (a redo, 重办, or the reopening of the closed
  lead: ``redo_count`` > 0) ÷ orders that replied at least once (``replied_at`` is set).
* **Extensions**: extension requests (延期) on the orders counted, and how many were approved.
* **Returns**: return requests (退单) on the orders counted — one per
  ``work_order.return_requested`` event, so a return that was refused still counts — and how many
  were granted (the order was reassigned after a return).
* **Working days to close**: leads closed in the period (status closed, ``closed_at`` in it; a
  reopened lead counts when it is closed again), working days after the day the lead was created
  up to and including the day it was closed (``working_days_between`` on the official calendar,
  so weekends, holidays and make-up working days count as the calendar says; a lead closed the
  day it came in took 0). Mean, and the 90th percentile by the nearest-rank method: the
  ⌈0.9 × n⌉-th smallest value.

Dimensions: **department** (the order's department; a closed lead counts for every department
holding a live — by then accepted — order on it, so a lead with a lead and an assisting department
counts in both rows and once in the total); **district** (the district above the lead's region; a
lead placed above district level is in a row of its own); **area** (``lead.area``; leads without
an area in a row of their own). The slice limits the records: a region slice to leads placed in
its subtree, an area slice to the area's leads, a department slice to that department's orders
(and the leads it held an order on).

A lead's district is found by a CASE over the path prefixes of the districts the slice can reach
(a city has about ten), so it holds whatever depth the tree puts districts at.

Set-based: per call one or two queries for the districts (district dimension only), one
aggregate over the orders, one over the audit events of the return requests, one over the
extension requests, one for the overdue orders, one for the closed leads and at most one for the
row labels, whatever the number of rows. The percentile needs the closed leads' day counts,
fetched as (group, created, closed) triples and counted in Python: a few thousand rows a year for
a city, which is fine; a province-wide view would want them rolled up.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.models import Department
from bihuan.audit.models import Event
from bihuan.core.workdays import working_days_between
from bihuan.leads.models import ExtensionRequest, Lead, WorkOrder
from bihuan.leads.workflow import ORDER_LIVE, ExtensionStatus, LeadStatus, OrderStatus
from bihuan.reports.scope import FigureScope
from bihuan.territory.models import Area, Level, Region

LOCAL = ZoneInfo("Asia/Shanghai")
Dimension = Literal["department", "district", "area"]
DIMENSIONS: tuple[Dimension, ...] = ("department", "district", "area")
RETURN_VERB = "work_order.return_requested"
ORDER_TYPE = "leads.workorder"
PERCENTILE = 90


def _bounds(
    start: datetime.date, end: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """The first instant of ``start`` and of the day after ``end``, in Asia/Shanghai."""
    low = datetime.datetime.combine(start, datetime.time.min, tzinfo=LOCAL)
    high = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min, LOCAL)
    return low, high


def nearest_rank(values: Iterable[int], percentile: int = PERCENTILE) -> int | None:
    """The nearest-rank percentile: the ⌈p/100 × n⌉-th smallest value (None when empty)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(percentile * len(ordered) / 100))
    return ordered[rank - 1]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class HealthRow:
    """One row of a ranking table: a department, district or area (``key`` None: unplaced)."""

    key: int | None
    label: str
    orders: int = 0
    signed_on_time: int = 0
    sign_counted: int = 0
    replied_on_time: int = 0
    reply_counted: int = 0
    overdue_now: int = 0
    redone: int = 0
    replied: int = 0
    extensions: int = 0
    extensions_approved: int = 0
    returns: int = 0
    returns_granted: int = 0
    days: list[int] = field(default_factory=list, repr=False)

    @property
    def sign_rate(self) -> float | None:
        return _ratio(self.signed_on_time, self.sign_counted)

    @property
    def reply_rate(self) -> float | None:
        return _ratio(self.replied_on_time, self.reply_counted)

    @property
    def redo_rate(self) -> float | None:
        return _ratio(self.redone, self.replied)

    @property
    def sign_percent(self) -> str:
        return percent(self.sign_rate)

    @property
    def reply_percent(self) -> str:
        return percent(self.reply_rate)

    @property
    def redo_percent(self) -> str:
        return percent(self.redo_rate)

    @property
    def closed(self) -> int:
        return len(self.days)

    @property
    def days_mean(self) -> float | None:
        return sum(self.days) / len(self.days) if self.days else None

    @property
    def days_p90(self) -> int | None:
        return nearest_rank(self.days)


@dataclass(frozen=True)
class Column:
    """A sortable column: its key, and whether a higher value is better (for "best first")."""

    key: str
    higher_is_better: bool


COLUMNS: dict[str, Column] = {
    c.key: c
    for c in (
        Column("label", False),
        Column("orders", True),
        Column("sign_rate", True),
        Column("reply_rate", True),
        Column("overdue_now", False),
        Column("redo_rate", False),
        Column("extensions", False),
        Column("returns", False),
        Column("closed", True),
        Column("days_mean", False),
        Column("days_p90", False),
    )
}
# Best first by the on-time reply rate (办结 on time is the loop's purpose), then signing.
DEFAULT_SORT = "-reply_rate"


def parse_sort(value: str | None) -> str:
    """A known ``?sort=`` value (``col`` ascending, ``-col`` descending), else the default."""
    if value and value.removeprefix("-") in COLUMNS:
        return value
    return DEFAULT_SORT


def best_first(column: str) -> str:
    """The sort value showing the best rows of ``column`` first."""
    return f"-{column}" if COLUMNS[column].higher_is_better else column


def sort_rows(rows: list[HealthRow], sort: str) -> list[HealthRow]:
    """Rows in the order asked; rows without a value (no denominator) always last."""
    sort = parse_sort(sort)
    column = sort.removeprefix("-")
    descending = sort.startswith("-")
    if column == "label":
        return sorted(rows, key=lambda r: r.label, reverse=descending)
    present = [r for r in rows if getattr(r, column) is not None]
    missing = [r for r in rows if getattr(r, column) is None]
    # Ties fall back to the on-time rates, then the name, so the order is stable and meaningful.
    present.sort(key=lambda r: r.label)
    present.sort(key=lambda r: -(r.sign_rate or 0.0))
    present.sort(key=lambda r: -(r.reply_rate or 0.0))
    present.sort(key=lambda r: getattr(r, column), reverse=descending)
    missing.sort(key=lambda r: r.label)
    return present + missing


@dataclass(frozen=True)
class Health:
    """The ranking table of one slice, period and dimension, with the slice's total."""

    scope: FigureScope
    start: datetime.date
    end: datetime.date
    dimension: Dimension
    sort: str
    as_of: datetime.datetime
    rows: list[HealthRow]
    total: HealthRow


# ---------------------------------------------------------------------------- slicing


def _order_scope_q(scope: FigureScope, prefix: str = "") -> Q:
    """Work orders in the slice (by their lead's place or area, or their department).

    ``prefix`` reaches the order from another model (``"work_order__"``): filtering through the
    join lets the database plan one query instead of probing an ``IN`` subquery row by row.
    """
    if scope.kind == "region":
        return Q(**{f"{prefix}lead__region__path__startswith": scope.path})
    if scope.kind == "area":
        return Q(**{f"{prefix}lead__area_id": scope.id})
    return Q(**{f"{prefix}department_id": scope.id})


def _counted_q(scope: FigureScope, start: datetime.date, end: datetime.date, prefix: str = "") -> Q:
    """Work orders of the slice dispatched in the period, reached through ``prefix``."""
    low, high = _bounds(start, end)
    return _order_scope_q(scope, prefix) & Q(
        **{f"{prefix}created_at__gte": low, f"{prefix}created_at__lt": high}
    )


def _districts(scope: FigureScope) -> list[Region]:
    """The districts a slice's leads can lie in: those above or below the slice's place.

    A region slice is its own place; an area's is its region (the lowest one holding all its
    communities) and a department's its jurisdiction, since it is only sent orders there.
    """
    anchor = scope.path
    if scope.kind == "area":
        anchor = Area.objects.filter(pk=scope.id).values_list("region__path", flat=True).get()
    elif scope.kind == "department":
        anchor = (
            Department.objects.filter(pk=scope.id)
            .values_list("jurisdiction__path", flat=True)
            .get()
        )
    rows = Region.objects.filter(level=Level.DISTRICT).filter(
        Q(path__startswith=anchor) | Q(path__in=_prefixes(anchor))
    )
    return list(rows.order_by("path"))


def _prefixes(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["".join(f"{p}/" for p in parts[: i + 1]) for i in range(len(parts))]


def _group(dimension: Dimension, districts: list[Region], to_lead: str) -> Combinable:
    """The expression naming a row's key, reached from the queried model by ``to_lead``."""
    if dimension == "area":
        return F(f"{to_lead}area_id")
    if dimension == "district":
        if not districts:
            return Value(None, output_field=IntegerField())
        return Case(
            *(
                When(**{f"{to_lead}region__path__startswith": d.path}, then=Value(d.pk))
                for d in districts
            ),
            default=None,
            output_field=IntegerField(),
        )
    raise ValueError(dimension)


def _order_group(dimension: Dimension, districts: list[Region], prefix: str = "") -> Combinable:
    if dimension == "department":
        return F(f"{prefix}department_id")
    return _group(dimension, districts, f"{prefix}lead__")


# ---------------------------------------------------------------------------- measures


def _order_measures(now: datetime.datetime) -> dict[str, Any]:
    """Conditional aggregates over one group's work orders."""
    replied_now = Q(status__in=[OrderStatus.REPLIED, OrderStatus.ACCEPTED])
    returned_late_unsigned = Q(return_requested_at__gt=F("sign_due"))
    returned_late_signed = Q(
        status_before_return=OrderStatus.SIGNED, return_requested_at__gt=F("reply_due")
    )
    return {
        "orders": Count("pk"),
        "signed_on_time": Count("pk", filter=Q(signed_at__lte=F("sign_due"))),
        "signed_late": Count(
            "pk",
            filter=Q(signed_at__gt=F("sign_due"))
            | Q(signed_at__isnull=True)
            & (Q(status=OrderStatus.AWAITING, sign_due__lt=now) | returned_late_unsigned),
        ),
        "replied_on_time": Count("pk", filter=replied_now & Q(replied_at__lte=F("reply_due"))),
        "replied_late": Count(
            "pk",
            filter=replied_now & Q(replied_at__gt=F("reply_due"))
            | Q(status=OrderStatus.SIGNED, reply_due__lt=now)
            | returned_late_signed,
        ),
        "redone": Count("pk", filter=Q(redo_count__gt=0)),
        "replied": Count("pk", filter=Q(replied_at__isnull=False)),
        "returns_granted": Count(
            "pk", filter=Q(status=OrderStatus.REASSIGNED, return_requested_at__isnull=False)
        ),
    }


def _overdue_q(now: datetime.datetime) -> Q:
    return Q(status=OrderStatus.AWAITING, sign_due__lt=now) | Q(
        status=OrderStatus.SIGNED, reply_due__lt=now
    )


def _returns(
    scope: FigureScope,
    start: datetime.date,
    end: datetime.date,
    dimension: Dimension,
    districts: list[Region],
) -> QuerySet[Event, dict[str, Any]]:
    """Return requests on the orders counted, per row: one per ``work_order.return_requested``.

    The events are found by verb and time (an order is returned after it was dispatched, so
    never before the period starts) and the few of them that remain are matched to their order;
    an event's ``object_id`` is text, so the order's id is compared as text too.
    """
    low, _high = _bounds(start, end)
    counted_ids = orders_counted(scope, start, end).annotate(
        text_id=Cast("pk", output_field=CharField())
    )
    order = WorkOrder.objects.filter(
        pk=Cast(OuterRef("object_id"), output_field=IntegerField())
    ).annotate(row=_order_group(dimension, districts))
    return (
        Event.objects.filter(
            verb=RETURN_VERB,
            object_type=ORDER_TYPE,
            at__gte=low,
            object_id__in=counted_ids.values("text_id"),
        )
        .annotate(row=Subquery(order.values("row")[:1]))
        .order_by()
        .values("row")
        .annotate(n=Count("pk"))
    )


def orders_counted(
    scope: FigureScope, start: datetime.date, end: datetime.date
) -> QuerySet[WorkOrder]:
    """The work orders dispatched in the period, in the slice: the rows behind the table."""
    return WorkOrder.objects.filter(_counted_q(scope, start, end))


def orders_overdue_now(scope: FigureScope, now: datetime.datetime) -> QuerySet[WorkOrder]:
    """Open orders of the slice past the deadline they are working against, right now."""
    return WorkOrder.objects.filter(_order_scope_q(scope)).filter(_overdue_q(now))


def leads_closed(scope: FigureScope, start: datetime.date, end: datetime.date) -> QuerySet[Lead]:
    """Leads of the slice closed in the period (the rows behind the working days to close)."""
    low, high = _bounds(start, end)
    rows = Lead.objects.filter(status=LeadStatus.CLOSED, closed_at__gte=low, closed_at__lt=high)
    if scope.kind == "region":
        return rows.filter(region__path__startswith=scope.path)
    if scope.kind == "area":
        return rows.filter(area_id=scope.id)
    held = WorkOrder.objects.filter(
        lead=OuterRef("pk"), department_id=scope.id, status__in=sorted(ORDER_LIVE)
    )
    return rows.filter(Exists(held))


def _closed_triples(
    scope: FigureScope,
    start: datetime.date,
    end: datetime.date,
    dimension: Dimension,
    districts: list[Region],
) -> list[tuple[Any, int, datetime.datetime, datetime.datetime | None]]:
    """(row key, lead id, created, closed) of the leads closed in the period."""
    closed = leads_closed(scope, start, end)
    if dimension == "department":
        orders = WorkOrder.objects.filter(
            lead__in=closed.values("pk"), status__in=sorted(ORDER_LIVE)
        )
        if scope.kind == "department":
            orders = orders.filter(department_id=scope.id)
        return list(
            orders.values_list("department_id", "lead_id", "lead__created_at", "lead__closed_at")
        )
    return list(
        closed.annotate(row=_group(dimension, districts, ""))
        .order_by()
        .values_list("row", "pk", "created_at", "closed_at")
    )


def _labels(
    dimension: Dimension, keys: set[int | None], districts: list[Region]
) -> dict[int | None, str]:
    wanted = {k for k in keys if k is not None}
    labels: dict[int | None, str]
    if dimension == "department":
        labels = {
            pk: short or name
            for pk, short, name in Department.objects.filter(pk__in=wanted).values_list(
                "pk", "short_name", "name"
            )
        }
    elif dimension == "area":
        labels = dict(Area.objects.filter(pk__in=wanted).values_list("pk", "name"))
        labels[None] = _("Without an area")
    else:
        labels = {d.pk: d.name for d in districts}
        labels[None] = _("Above district level")
    return labels


def loop_health(
    scope: FigureScope,
    start: datetime.date,
    end: datetime.date,
    dimension: Dimension = "department",
    sort: str = DEFAULT_SORT,
    now: datetime.datetime | None = None,
) -> Health:
    """The loop's health of a slice in a period, one row per department, district or area."""
    if dimension not in DIMENSIONS:
        raise ValueError(dimension)
    now = now or timezone.now()
    districts = _districts(scope) if dimension == "district" else []
    rows: dict[int | None, HealthRow] = {}

    def row(key: int | None) -> HealthRow:
        if key not in rows:
            rows[key] = HealthRow(key=key, label="")
        return rows[key]

    counted = orders_counted(scope, start, end)
    grouped = (
        counted.annotate(row=_order_group(dimension, districts))
        .order_by()
        .values("row")
        .annotate(**_order_measures(now))
    )
    for values in grouped:
        target = row(values["row"])
        for name in ("orders", "signed_on_time", "replied_on_time", "redone", "replied"):
            setattr(target, name, values[name])
        target.sign_counted = values["signed_on_time"] + values["signed_late"]
        target.reply_counted = values["replied_on_time"] + values["replied_late"]
        target.returns_granted = values["returns_granted"]

    extensions = (
        ExtensionRequest.objects.filter(_counted_q(scope, start, end, "work_order__"))
        .annotate(row=_order_group(dimension, districts, "work_order__"))
        .order_by()
        .values("row")
        .annotate(n=Count("pk"), approved=Count("pk", filter=Q(status=ExtensionStatus.APPROVED)))
    )
    for values in extensions:
        target = row(values["row"])
        target.extensions, target.extensions_approved = values["n"], values["approved"]

    for values in _returns(scope, start, end, dimension, districts):
        row(values["row"]).returns = values["n"]

    overdue = (
        orders_overdue_now(scope, now)
        .annotate(row=_order_group(dimension, districts))
        .order_by()
        .values("row")
        .annotate(n=Count("pk"))
    )
    for values in overdue:
        row(values["row"]).overdue_now = values["n"]

    total = HealthRow(key=None, label="")
    seen: set[int] = set()
    for key, lead_id, created, closed in _closed_triples(scope, start, end, dimension, districts):
        if closed is None:  # excluded by the period filter already; narrows the type
            continue
        days = working_days_between(created, closed)
        row(key).days.append(days)
        if lead_id not in seen:  # a lead held by two departments is closed once in the total
            seen.add(lead_id)
            total.days.append(days)

    labels = _labels(dimension, set(rows), districts)
    for key, target in rows.items():
        target.label = labels.get(key, str(key))
    _add_up(total, rows.values())
    return Health(
        scope=scope,
        start=start,
        end=end,
        dimension=dimension,
        sort=parse_sort(sort),
        as_of=now,
        rows=sort_rows(list(rows.values()), sort),
        total=total,
    )


_SUMMED = (
    "orders",
    "signed_on_time",
    "sign_counted",
    "replied_on_time",
    "reply_counted",
    "overdue_now",
    "redone",
    "replied",
    "extensions",
    "extensions_approved",
    "returns",
    "returns_granted",
)


def _add_up(total: HealthRow, rows: Iterable[HealthRow]) -> None:
    """Every order belongs to exactly one row, so the total of the counts is their sum."""
    for target in rows:
        for name in _SUMMED:
            setattr(total, name, getattr(total, name) + getattr(target, name))


def percent(value: float | None) -> str:
    """A rate as shown: one decimal and a percent sign, or a dash without a denominator."""
    return "—" if value is None else f"{value * 100:.1f}%"
