"""The five headline figures for any period and slice, and the records behind each number.

PRODUCT.md defines the figures; this module turns the words into queries. A period is a range of
calendar days in Asia/Shanghai, both ends included. A slice is a ``FigureScope``: a region (and
everything below it), an area, or a department.

* Person-times (出动检查人员人次) and institutions screened / visits (摸排机构家数 / 家次) come from
  ``bihuan.screening.figures`` (approved inspections by ``visited_at``; recorded joint operations
  by ``planned_for``; see that module for who counts once). Here they are only sliced.
* Leads fed back (反馈线索条数): leads created in the period, every source counted, except those
  MERGED into another lead (duplicates count once, as their survivor).
* Disguised cases (查处隐形变异学科培训次数): cases CONCLUDED in the period whose ``is_disguised``
  was fixed at conclusion.
* Refunds (清退培训费用): Σ VERIFIED refunds by their verification day, in fen (pages show 元/万元).

Slices:

* region — the record's region at or under the region: ``inspection.region``, ``lead.region``,
  ``case.region``, the refund's ``case.region``; a joint operation counts once if any of its leads
  is inside (an operation on leads of two communities counts in each, and once above them).
* area — ``institution.area`` for visits (the visited record's area), ``lead.area`` for leads,
  the lead's area for cases and refunds, any of its leads' areas for a joint operation.
* department — leads with a live work order of the department (``ORDER_LIVE``: not reassigned
  away nor withdrawn), the cases and refunds of those leads, and the department's own
  participants in joint operations as person-times. Institutions and visits are not a
  department's figure: ``None``.

``recount`` reads the records; ``headline`` answers from the rollups (``rollups.py``) and agrees
with ``recount`` at every moment; ``records`` lists the rows whose weights add up to a figure.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.urls import reverse

from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus
from bihuan.leads.models import JointOperation, JointParticipant, Lead
from bihuan.leads.workflow import ORDER_LIVE, LeadStatus
from bihuan.reports.scope import FigureScope
from bihuan.screening import figures as screening
from bihuan.screening.models import Inspection
from bihuan.territory.models import Region

METRICS = ("person_times", "institutions", "visits", "leads", "disguised_cases", "refunds")


@dataclass(frozen=True)
class Headline:
    """One value per figure; institutions and visits are None for a department slice."""

    person_times: int
    institutions: int | None
    visits: int | None
    leads: int
    disguised_cases: int
    refunds_fen: int

    def value(self, metric: str) -> int | None:
        """The figure of one metric (``refunds`` in fen)."""
        return self.refunds_fen if metric == "refunds" else getattr(self, metric)


@dataclass(frozen=True)
class RecordRow:
    """One record behind a figure; ``weight`` is what it adds to the figure.

    ``kind`` is one of inspection, joint_operation, institution, lead, case, refund; ``detail``
    is the status or outcome in words (for an institution: its visits in the period, for a
    refund: the number of families).
    """

    date: datetime.date
    kind: str
    label: str
    place: str
    detail: str
    url: str
    weight: int


@dataclass(frozen=True)
class _Source:
    """One queryset of records, in display order, with how to turn a page of it into rows."""

    rows: QuerySet[Any]
    to_rows: Callable[[list[Any]], list[RecordRow]]
    total: Callable[[], int]


@dataclass
class RecordList:
    """The records behind one figure: rows from one or two sources, shown one after the other."""

    sources: list[_Source] = field(default_factory=list)

    def count(self) -> int:
        """Number of rows."""
        return sum(s.rows.count() for s in self.sources)

    def total(self) -> int:
        """Σ weights: the figure itself."""
        return sum(s.total() for s in self.sources)

    def page(self, number: int, per_page: int) -> list[RecordRow]:
        """Rows of page ``number`` (from 1), ``per_page`` each."""
        skip = max(number - 1, 0) * per_page
        want = per_page
        result: list[RecordRow] = []
        for source in self.sources:
            if want <= 0:
                break
            size = source.rows.count()
            if skip >= size:
                skip -= size
                continue
            chunk = list(source.rows[skip : skip + want])
            result += source.to_rows(chunk)
            want -= len(chunk)
            skip = 0
        return result

    def rows(self, chunk: int = 2000) -> Iterator[RecordRow]:
        """Every row, fetched in chunks (for XLSX)."""
        for source in self.sources:
            size = source.rows.count()
            for offset in range(0, size, chunk):
                yield from source.to_rows(list(source.rows[offset : offset + chunk]))


def _local_day(value: datetime.datetime | None) -> datetime.date:
    assert value is not None
    return value.astimezone(screening.LOCAL).date()


def _with_path(scope: FigureScope) -> FigureScope:
    """The scope with its region path: an empty path would match every region."""
    if scope.kind != "region" or scope.path:
        return scope
    region = Region.objects.get(pk=scope.id)
    return FigureScope("region", region.pk, scope.label, region.path)


def _region(scope: FigureScope) -> Region | None:
    # The screening selections only need the id and tree path, which the scope carries.
    return Region(pk=scope.id, path=scope.path) if scope.kind == "region" else None


def _dept_leads(scope: FigureScope) -> QuerySet[Any]:
    return Lead.objects.filter(
        work_orders__department_id=scope.id, work_orders__status__in=sorted(ORDER_LIVE)
    ).values("pk")


# --- the selections, one per figure ------------------------------------------------------------


def inspections_in(scope: FigureScope, start: datetime.date, end: datetime.date) -> QuerySet[Any]:
    """Approved inspections of the slice (person-times); empty for a department."""
    if scope.kind == "department":
        return Inspection.objects.none()
    if scope.kind == "region":
        return screening.approved_inspections(start, end, _region(scope))
    return screening.approved_inspections(start, end, None).filter(institution__area_id=scope.id)


def joint_in(
    scope: FigureScope, start: datetime.date, end: datetime.date
) -> QuerySet[JointOperation]:
    """Recorded joint operations of the slice (for a department: those its people joined)."""
    held = screening.joint_operations_held(start, end, None)
    if scope.kind == "region":
        inside = Lead.objects.filter(Q(region__path__startswith=scope.path))
        return held.filter(pk__in=inside.values("joint_operations"))
    if scope.kind == "area":
        return held.filter(pk__in=Lead.objects.filter(area_id=scope.id).values("joint_operations"))
    return held.filter(
        pk__in=JointParticipant.objects.filter(department_id=scope.id).values("operation_id")
    )


def joint_people(
    scope: FigureScope, start: datetime.date, end: datetime.date
) -> QuerySet[JointParticipant]:
    """The joint participations that count (one per person per operation) in the slice."""
    rows = screening.person_time_records(start, end, None).joint
    rows = rows.filter(operation__in=joint_in(scope, start, end).values("pk"))
    return rows.filter(department_id=scope.id) if scope.kind == "department" else rows


def inspection_people(scope: FigureScope, start: datetime.date, end: datetime.date) -> Any:
    """The inspection participations that count in the slice."""
    if scope.kind == "department":
        return screening.person_time_records(start, end, None).inspections.none()
    rows = screening.person_time_records(start, end, _region(scope)).inspections
    if scope.kind == "area":
        rows = rows.filter(inspection__institution__area_id=scope.id)
    return rows


def visits_in(scope: FigureScope, start: datetime.date, end: datetime.date) -> QuerySet[Inspection]:
    """On-site approved visits of the slice, each with ``counted_institution``."""
    if scope.kind == "department":
        return Inspection.objects.none()
    if scope.kind == "region":
        return screening.screened_records(start, end, _region(scope))
    return screening.screened_records(start, end, None).filter(institution__area_id=scope.id)


def leads_in(scope: FigureScope, start: datetime.date, end: datetime.date) -> QuerySet[Lead]:
    """Leads fed back: created in the period, not merged into another."""
    low, high = screening._bounds(start, end)
    rows = Lead.objects.filter(created_at__gte=low, created_at__lt=high).exclude(
        status=LeadStatus.MERGED
    )
    if scope.kind == "region":
        return rows.filter(region__path__startswith=scope.path)
    if scope.kind == "area":
        return rows.filter(area_id=scope.id)
    return rows.filter(pk__in=_dept_leads(scope))


def cases_in(scope: FigureScope, start: datetime.date, end: datetime.date) -> QuerySet[Case]:
    """Disguised-tutoring cases concluded in the period."""
    low, high = screening._bounds(start, end)
    rows = Case.objects.filter(
        status=CaseStatus.CONCLUDED,
        is_disguised=True,
        concluded_at__gte=low,
        concluded_at__lt=high,
    )
    if scope.kind == "region":
        return rows.filter(region__path__startswith=scope.path)
    if scope.kind == "area":
        return rows.filter(lead__area_id=scope.id)
    return rows.filter(lead_id__in=_dept_leads(scope))


def refunds_in(scope: FigureScope, start: datetime.date, end: datetime.date) -> QuerySet[Refund]:
    """Refunds verified in the period."""
    low, high = screening._bounds(start, end)
    rows = Refund.objects.filter(
        status=RefundStatus.VERIFIED, verified_at__gte=low, verified_at__lt=high
    )
    if scope.kind == "region":
        return rows.filter(case__region__path__startswith=scope.path)
    if scope.kind == "area":
        return rows.filter(case__lead__area_id=scope.id)
    return rows.filter(case__lead_id__in=_dept_leads(scope))


def institutions_count(scope: FigureScope, start: datetime.date, end: datetime.date) -> int:
    """Distinct institutions screened (their survivors), live from the records."""
    got = (
        visits_in(scope, start, end)
        .order_by()
        .aggregate(n=Count("counted_institution", distinct=True))
    )
    return int(got["n"] or 0)


def recount(scope: FigureScope, start: datetime.date, end: datetime.date) -> Headline:
    """The five figures straight from the records (the reference the rollups must equal)."""
    scope = _with_path(scope)
    department = scope.kind == "department"
    visits = None if department else visits_in(scope, start, end).count()
    refunds = refunds_in(scope, start, end).aggregate(s=Sum("amount_fen"))["s"]
    return Headline(
        person_times=inspection_people(scope, start, end).count()
        + joint_people(scope, start, end).count(),
        institutions=None if department else institutions_count(scope, start, end),
        visits=visits,
        leads=leads_in(scope, start, end).count(),
        disguised_cases=cases_in(scope, start, end).count(),
        refunds_fen=int(refunds or 0),
    )


def headline(scope: FigureScope, start: datetime.date, end: datetime.date) -> Headline:
    """The five figures from the rollups, corrected live for what changed since the last build."""
    from bihuan.reports import rollups

    return rollups.headline(scope, start, end)


def headlines(
    scope: FigureScope, periods: list[tuple[datetime.date, datetime.date]]
) -> list[Headline]:
    """``headline`` for several periods at once (a monthly trend), reading the rollups once."""
    from bihuan.reports import rollups

    return rollups.headlines(scope, periods)


# --- the records behind each figure ------------------------------------------------------------


def _inspection_rows(items: list[Inspection], weights: dict[int, int]) -> list[RecordRow]:
    return [
        RecordRow(
            date=_local_day(i.visited_at),
            kind="inspection",
            label=i.institution.name,
            place=i.region.name,
            detail=i.get_outcome_display(),
            url=reverse("screening:review_detail", args=[i.pk]),
            weight=weights.get(i.pk, 1),
        )
        for i in items
    ]


def _person_times(scope: FigureScope, start: datetime.date, end: datetime.date) -> RecordList:
    people = inspection_people(scope, start, end)
    visits = (
        Inspection.objects.filter(pk__in=people.values("inspection_id"))
        .select_related("institution", "region")
        .order_by("visited_at", "pk")
    )

    def visit_rows(items: list[Inspection]) -> list[RecordRow]:
        counts = (
            people.filter(inspection_id__in=[i.pk for i in items])
            .order_by()
            .values("inspection_id")
            .annotate(n=Count("pk"))
        )
        return _inspection_rows(items, {c["inspection_id"]: c["n"] for c in counts})

    joint = joint_people(scope, start, end)
    operations = (
        JointOperation.objects.filter(pk__in=joint.values("operation_id"))
        .select_related("region")
        .order_by("planned_for", "pk")
    )

    def operation_rows(items: list[JointOperation]) -> list[RecordRow]:
        counts = (
            joint.filter(operation_id__in=[o.pk for o in items])
            .order_by()
            .values("operation_id")
            .annotate(n=Count("pk"))
        )
        weights = {c["operation_id"]: c["n"] for c in counts}
        return [
            RecordRow(
                date=o.planned_for or datetime.date.min,
                kind="joint_operation",
                label=o.title,
                place=o.region.name,
                detail=o.get_status_display(),
                url=reverse("leads:joint", args=[o.pk]),
                weight=weights.get(o.pk, 0),
            )
            for o in items
        ]

    return RecordList(
        [
            _Source(visits, visit_rows, people.count),
            _Source(operations, operation_rows, joint.count),
        ]
    )


def _institutions(scope: FigureScope, start: datetime.date, end: datetime.date) -> RecordList:
    if scope.kind == "department":
        return RecordList()
    from bihuan.registry.models import Institution

    # ``counted_institution`` is an annotation the type checker cannot see.
    visits: Any = visits_in(scope, start, end)
    ids = visits.order_by().values("counted_institution")
    rows = Institution.objects.filter(pk__in=ids).select_related("region").order_by("name", "pk")

    def to_rows(items: list[Any]) -> list[RecordRow]:
        seen = {
            v["counted_institution"]: v
            for v in visits.filter(counted_institution__in=[i.pk for i in items])
            .order_by()
            .values("counted_institution")
            .annotate(n=Count("pk"), first=Min("visited_at"))
        }
        return [
            RecordRow(
                date=_local_day(seen[i.pk]["first"]) if i.pk in seen else end,
                kind="institution",
                label=i.name,
                place=i.region.name if i.region_id else "",
                detail=str(seen[i.pk]["n"] if i.pk in seen else 0),
                url=reverse("registry:institution", args=[i.pk]),
                weight=1,
            )
            for i in items
        ]

    return RecordList([_Source(rows, to_rows, lambda: institutions_count(scope, start, end))])


def _visits(scope: FigureScope, start: datetime.date, end: datetime.date) -> RecordList:
    if scope.kind == "department":
        return RecordList()
    rows = visits_in(scope, start, end).select_related("institution", "region")
    return RecordList([_Source(rows, lambda items: _inspection_rows(items, {}), rows.count)])


def _leads(scope: FigureScope, start: datetime.date, end: datetime.date) -> RecordList:
    rows = (
        leads_in(scope, start, end)
        .select_related("region", "institution")
        .order_by("created_at", "pk")
    )

    def to_rows(items: list[Lead]) -> list[RecordRow]:
        return [
            RecordRow(
                date=_local_day(lead.created_at),
                kind="lead",
                label=f"{lead.reference} {lead.place_label}",
                place=lead.region.name,
                detail=lead.get_status_display(),
                url=reverse("leads:detail", args=[lead.pk]),
                weight=1,
            )
            for lead in items
        ]

    return RecordList([_Source(rows, to_rows, rows.count)])


def _cases(scope: FigureScope, start: datetime.date, end: datetime.date) -> RecordList:
    rows = (
        cases_in(scope, start, end)
        .select_related("lead", "region", "institution")
        .order_by("concluded_at", "pk")
    )

    def to_rows(items: list[Case]) -> list[RecordRow]:
        return [
            RecordRow(
                date=_local_day(case.concluded_at),
                kind="case",
                label=f"{case.lead.reference} {case.institution.name if case.institution else ''}",
                place=case.region.name,
                detail="、".join(case.outcomes),
                url=reverse("cases:detail", args=[case.pk]),
                weight=1,
            )
            for case in items
        ]

    return RecordList([_Source(rows, to_rows, rows.count)])


def _refunds(scope: FigureScope, start: datetime.date, end: datetime.date) -> RecordList:
    selected = refunds_in(scope, start, end)
    rows = selected.select_related("case__lead", "case__region").order_by("verified_at", "pk")

    def to_rows(items: list[Refund]) -> list[RecordRow]:
        return [
            RecordRow(
                date=_local_day(r.verified_at),
                kind="refund",
                label=r.case.lead.reference,
                place=r.case.region.name,
                detail=str(r.families),
                url=reverse("cases:detail", args=[r.case_id]),
                weight=r.amount_fen,
            )
            for r in items
        ]

    def total() -> int:
        return int(selected.aggregate(s=Sum("amount_fen"))["s"] or 0)

    return RecordList([_Source(rows, to_rows, total)])


_RECORDS: dict[str, Callable[[FigureScope, datetime.date, datetime.date], RecordList]] = {
    "person_times": _person_times,
    "institutions": _institutions,
    "visits": _visits,
    "leads": _leads,
    "disguised_cases": _cases,
    "refunds": _refunds,
}


def records(
    metric: str, scope: FigureScope, start: datetime.date, end: datetime.date
) -> RecordList:
    """The records behind one figure; their weights add up to it. Unknown metric: KeyError."""
    return _RECORDS[metric](_with_path(scope), start, end)
