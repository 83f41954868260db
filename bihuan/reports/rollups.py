"""Rollups that answer the five figures in one indexed SUM, and always agree with a recount.

How the rollups are kept: **rebuilt by a job from dirty days**, not by the services. The figures
are read from records that a dozen services in four apps write (approvals, merges, work orders,
conclusions, verifications, joint operations, institution merges); keeping a counter in each of
those transactions would put figure logic into every write path and miss any path added later.
Every one of those writes already appends an ``Event`` row in the same transaction, so the job
(``tasks.refresh_figures``, every few minutes) reads the events after its watermark, finds the
days whose figures they may have changed, recomputes those days from the records with a few
GROUP BY queries and moves the watermark.

Agreement at every moment: ``headline`` sums the rollups over the period **except** the days
touched by events after the watermark, and recounts those days live from the records (usually
today and a few others). So it equals ``figures.recount`` whether or not the job has run.
Assumptions, checked by ``check_figures``:

* a record's counting day is fixed once it counts (a lead's creation, an approved visit's
  ``visited_at``, a conclusion, a verification, a recorded operation's date);
* a transaction that writes events commits within ``LAG`` of writing them: the job only folds
  events older than that, so one that commits late is still after the watermark;
* moving a region in the tree (its path) or bulk writes without events need
  ``refresh_figures --all``.

Slices: each record adds to every region above it (``region:<id>`` for its region and each
ancestor), its area and its departments, as ``figures`` defines them. Joint operations add once to
each slice any of their leads is in.

Distinct institutions do not add up over days. For each year, quarter and month the rollups keep,
per day, the institutions whose first approved on-site visit of that unit (in the slice) fell on
the day (``inst_y``, ``inst_q``, ``inst_m``); a period that starts on a unit's first day and ends
inside that unit (year to date, a month, a quarter, a year) is their sum. Any other period, or one
with a dirty day in it, counts distinct institutions live.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from bihuan.audit.models import Event
from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus
from bihuan.leads.models import JointOperation, JointParticipant, Lead, WorkOrder
from bihuan.leads.workflow import ORDER_LIVE, LeadStatus
from bihuan.reports import figures
from bihuan.reports.models import FigureRollup, RollupState
from bihuan.reports.scope import FigureScope
from bihuan.screening import figures as screening
from bihuan.screening.models import Inspection, InspectionParticipant
from bihuan.screening.workflow import InspectionStatus
from bihuan.territory.codes import ancestor_paths
from bihuan.territory.models import Region

ADDITIVE = ("person_times", "visits", "leads", "disguised_cases", "refunds")
UNITS = ("y", "q", "m")
LAG = datetime.timedelta(seconds=60)
LOCAL = screening.LOCAL

Key = tuple[str, str, datetime.date]  # (metric, scope key, day)


# --- periods -----------------------------------------------------------------------------------


def unit_bounds(unit: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day of the year / quarter / month holding ``day``."""
    if unit == "y":
        return datetime.date(day.year, 1, 1), datetime.date(day.year, 12, 31)
    first_month = (day.month - 1) // 3 * 3 + 1 if unit == "q" else day.month
    months = 3 if unit == "q" else 1
    start = datetime.date(day.year, first_month, 1)
    after = datetime.date(
        day.year + (first_month + months - 1) // 12, (first_month + months - 1) % 12 + 1, 1
    )
    return start, after - datetime.timedelta(days=1)


def aligned_unit(start: datetime.date, end: datetime.date) -> str | None:
    """The widest unit that starts on ``start`` and holds ``end``; None if there is none."""
    for unit in UNITS:
        first, last = unit_bounds(unit, start)
        if first == start and start <= end <= last:
            return unit
    return None


def _runs(days: Iterable[datetime.date]) -> Iterator[tuple[datetime.date, datetime.date]]:
    """Contiguous runs of days, as [first, last] pairs."""
    ordered = sorted(set(days))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == datetime.timedelta(days=1):
            j += 1
        yield ordered[i], ordered[j]
        i = j + 1


def _day(value: datetime.datetime) -> datetime.date:
    return value.astimezone(LOCAL).date()


# --- computing rollup rows from the records ----------------------------------------------------


class _Regions:
    """Region id → the ``region:<id>`` keys of it and every region above it."""

    def __init__(self) -> None:
        rows = list(Region.objects.values_list("pk", "path"))
        by_path = {path: pk for pk, path in rows}
        self._keys = {
            pk: tuple(f"region:{by_path[p]}" for p in ancestor_paths(path) if p in by_path)
            for pk, path in rows
        }

    def keys(self, region_id: int | None) -> tuple[str, ...]:
        return self._keys.get(region_id, ()) if region_id is not None else ()


def _by_day(
    rows: QuerySet[Any], when: str, dims: Iterable[str], value: Any
) -> Iterator[dict[str, Any]]:
    """``rows`` grouped by local day of ``when`` and ``dims``, with ``v`` = the aggregate."""
    return iter(
        rows.order_by()
        .annotate(d=TruncDate(when, tzinfo=LOCAL))
        .values("d", *dims)
        .annotate(v=value)
        .values("d", *dims, "v")
    )


class _Tally:
    """Rollup rows being summed up."""

    def __init__(self, regions: _Regions) -> None:
        self.regions = regions
        self.values: dict[Key, int] = defaultdict(int)

    def add(self, metric: str, keys: Iterable[str], day: datetime.date, value: int) -> None:
        for key in keys:
            self.values[(metric, key, day)] += value

    def by_region(self, metric: str, rows: Iterator[dict[str, Any]], field: str) -> None:
        for row in rows:
            self.add(metric, self.regions.keys(row[field]), row["d"], int(row["v"] or 0))

    def by_area(self, metric: str, rows: Iterator[dict[str, Any]], field: str) -> None:
        for row in rows:
            if row[field] is not None:
                self.add(metric, [f"area:{row[field]}"], row["d"], int(row["v"] or 0))

    def by_live_order(self, metric: str, rows: Iterator[dict[str, Any]], prefix: str) -> None:
        # One row per (record, work order): only live orders make a department's share, and a
        # department holds at most one live order per lead, so the values add up per department.
        for row in rows:
            if row[f"{prefix}status"] in ORDER_LIVE:
                dept = row[f"{prefix}department_id"]
                self.add(metric, [f"department:{dept}"], row["d"], int(row["v"] or 0))


def _additive(tally: _Tally, start: datetime.date, end: datetime.date) -> None:
    """Add the additive metrics of the days [start, end] to ``tally``."""
    low, high = screening._bounds(start, end)
    leads = Lead.objects.filter(created_at__gte=low, created_at__lt=high).exclude(
        status=LeadStatus.MERGED
    )
    tally.by_region("leads", _by_day(leads, "created_at", ["region_id"], Count("pk")), "region_id")
    tally.by_area("leads", _by_day(leads, "created_at", ["area_id"], Count("pk")), "area_id")
    orders = ["work_orders__department_id", "work_orders__status"]
    tally.by_live_order(
        "leads",
        _by_day(leads, "created_at", orders, Count("pk")),
        "work_orders__",
    )

    cases = Case.objects.filter(
        status=CaseStatus.CONCLUDED, is_disguised=True, concluded_at__gte=low, concluded_at__lt=high
    )
    metric = "disguised_cases"
    tally.by_region(metric, _by_day(cases, "concluded_at", ["region_id"], Count("pk")), "region_id")
    tally.by_area(
        metric, _by_day(cases, "concluded_at", ["lead__area_id"], Count("pk")), "lead__area_id"
    )
    lead_orders = [f"lead__{o}" for o in orders]
    tally.by_live_order(
        metric,
        _by_day(cases, "concluded_at", lead_orders, Count("pk")),
        "lead__work_orders__",
    )

    refunds = Refund.objects.filter(
        status=RefundStatus.VERIFIED, verified_at__gte=low, verified_at__lt=high
    )
    amount = Sum("amount_fen")
    tally.by_region(
        "refunds", _by_day(refunds, "verified_at", ["case__region_id"], amount), "case__region_id"
    )
    tally.by_area(
        "refunds",
        _by_day(refunds, "verified_at", ["case__lead__area_id"], amount),
        "case__lead__area_id",
    )
    case_orders = [f"case__lead__{o}" for o in orders]
    tally.by_live_order(
        "refunds",
        _by_day(refunds, "verified_at", case_orders, amount),
        "case__lead__work_orders__",
    )

    people = InspectionParticipant.objects.filter(
        is_active=True,
        inspection__status=InspectionStatus.APPROVED,
        inspection__visited_at__gte=low,
        inspection__visited_at__lt=high,
    )
    when = "inspection__visited_at"
    tally.by_region(
        "person_times",
        _by_day(people, when, ["inspection__region_id"], Count("pk")),
        "inspection__region_id",
    )
    area = "inspection__institution__area_id"
    tally.by_area("person_times", _by_day(people, when, [area], Count("pk")), area)
    _joint(tally, start, end)

    visits = screening.screened_records(start, end, None)
    tally.by_region(
        "visits", _by_day(visits, "visited_at", ["region_id"], Count("pk")), "region_id"
    )
    area = "institution__area_id"
    tally.by_area("visits", _by_day(visits, "visited_at", [area], Count("pk")), area)


def _joint(tally: _Tally, start: datetime.date, end: datetime.date) -> None:
    """Joint operations' person-times: once per slice any of the operation's leads is in."""
    people = screening.person_time_records(start, end, None).joint
    per_op: dict[int, int] = defaultdict(int)
    per_dept: dict[int, dict[int, int]] = defaultdict(dict)
    for row in people.order_by().values("operation_id", "department_id").annotate(n=Count("pk")):
        per_op[row["operation_id"]] += row["n"]
        if row["department_id"] is not None:
            per_dept[row["operation_id"]][row["department_id"]] = row["n"]
    if not per_op:
        return
    days = dict(JointOperation.objects.filter(pk__in=per_op).values_list("pk", "planned_for"))
    keys: dict[int, set[str]] = defaultdict(set)
    through = JointOperation.leads.through
    for op, region, area in through.objects.filter(jointoperation_id__in=per_op).values_list(
        "jointoperation_id", "lead__region_id", "lead__area_id"
    ):
        keys[op].update(tally.regions.keys(region))
        if area is not None:
            keys[op].add(f"area:{area}")
    for op, total in per_op.items():
        day = days[op]
        if day is None:  # a recorded operation always has its date (a constraint says so)
            continue
        tally.add("person_times", keys[op], day, total)
        for dept, n in per_dept[op].items():
            tally.add("person_times", [f"department:{dept}"], day, n)


def _institutions(tally: _Tally, unit: str, start: datetime.date, end: datetime.date) -> None:
    """``inst_<unit>``: per slice, institutions by the day of their first visit in [start, end]."""
    firsts: dict[tuple[str, int], datetime.date] = {}
    # ``counted_institution`` is an annotation the type checker cannot see.
    records: Any = screening.screened_records(start, end, None)
    visits = (
        records.order_by()
        .values("counted_institution", "region_id", "institution__area_id")
        .annotate(first=Min("visited_at"))
    )
    for row in visits.iterator(chunk_size=5000):
        day = _day(row["first"])
        keys = list(tally.regions.keys(row["region_id"]))
        if row["institution__area_id"] is not None:
            keys.append(f"area:{row['institution__area_id']}")
        for key in keys:
            at = (key, row["counted_institution"])
            if at not in firsts or day < firsts[at]:
                firsts[at] = day
    for (key, _inst), day in firsts.items():
        tally.values[(f"inst_{unit}", key, day)] += 1


def compute(days: Iterable[datetime.date], regions: _Regions | None = None) -> dict[Key, int]:
    """The rollup rows of the given days (and of every unit that holds one, for institutions)."""
    tally = _Tally(regions or _Regions())
    days = set(days)
    for first, last in _runs(days):
        _additive(tally, first, last)
    for unit in UNITS:
        for first, last in sorted({unit_bounds(unit, d) for d in days}):
            _institutions(tally, unit, first, last)
    return {k: v for k, v in tally.values.items() if v}


def _stored(days: set[datetime.date]) -> QuerySet[FigureRollup]:
    """The stored rows that ``compute(days)`` replaces."""
    rows = FigureRollup.objects.none()
    for first, last in _runs(days):
        rows |= FigureRollup.objects.filter(metric__in=ADDITIVE, day__gte=first, day__lte=last)
    for unit in UNITS:
        for first, last in {unit_bounds(unit, d) for d in days}:
            rows |= FigureRollup.objects.filter(
                metric=f"inst_{unit}", day__gte=first, day__lte=last
            )
    return rows


def rebuild(days: Iterable[datetime.date]) -> int:
    """Replace the rollups of ``days`` by a fresh computation; returns the rows written."""
    days = set(days)
    if not days:
        return 0
    values = compute(days)
    with transaction.atomic():
        _stored(days).delete()
        FigureRollup.objects.bulk_create(
            [FigureRollup(metric=m, scope=s, day=d, value=v) for (m, s, d), v in values.items()],
            batch_size=2000,
        )
    return len(values)


def record_days() -> set[datetime.date]:
    """Every day from the first record that counts to the last (for a full rebuild)."""
    found: list[datetime.date] = []
    for model, field in (
        (Lead, "created_at"),
        (Case, "concluded_at"),
        (Refund, "verified_at"),
        (Inspection, "visited_at"),
    ):
        got = model.objects.aggregate(low=Min(field), high=Max(field))  # type: ignore[attr-defined]
        found += [_day(v) for v in got.values() if v is not None]
    got = JointOperation.objects.aggregate(low=Min("planned_for"), high=Max("planned_for"))
    found += [v for v in got.values() if v is not None]
    if not found:
        return set()
    first, last = min(found), max(found)
    return {first + datetime.timedelta(days=i) for i in range((last - first).days + 1)}


# --- which days changed since the watermark ----------------------------------------------------


def _ids(values: Iterable[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def _lead_days(lead_ids: list[int]) -> set[datetime.date]:
    if not lead_ids:
        return set()
    stamps: list[datetime.datetime | None] = list(
        Lead.objects.filter(pk__in=lead_ids).values_list("created_at", flat=True)
    )
    stamps += Case.objects.filter(lead_id__in=lead_ids).values_list("concluded_at", flat=True)
    stamps += Refund.objects.filter(case__lead_id__in=lead_ids).values_list(
        "verified_at", flat=True
    )
    days = {_day(s) for s in stamps if s is not None}
    ops = JointOperation.objects.filter(leads__in=lead_ids).values_list("planned_for", flat=True)
    return days | {d for d in ops if d is not None}


def days_changed(events: QuerySet[Event]) -> set[datetime.date]:
    """The days whose figures the given events may have changed, in any slice."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for kind, oid in events.order_by().values_list("object_type", "object_id"):
        by_type[kind].append(oid)
    leads = _ids(by_type["leads.lead"])
    leads += WorkOrder.objects.filter(pk__in=_ids(by_type["leads.workorder"])).values_list(
        "lead_id", flat=True
    )
    cases = _ids(by_type["cases.case"])
    stamps: list[datetime.datetime | None] = []
    stamps += Case.objects.filter(pk__in=cases).values_list("concluded_at", flat=True)
    stamps += Refund.objects.filter(case_id__in=cases).values_list("verified_at", flat=True)
    stamps += Refund.objects.filter(pk__in=_ids(by_type["cases.refund"])).values_list(
        "verified_at", flat=True
    )
    inspections = _ids(by_type["screening.inspection"])
    inspections += InspectionParticipant.objects.filter(
        pk__in=_ids(by_type["screening.inspectionparticipant"])
    ).values_list("inspection_id", flat=True)
    stamps += Inspection.objects.filter(pk__in=inspections).values_list("visited_at", flat=True)
    # An institution's merge, area or place changes who and where its visits count.
    institutions = _ids(by_type["registry.institution"])
    if institutions:
        stamps += Inspection.objects.filter(institution_id__in=institutions).values_list(
            "visited_at", flat=True
        )
        stamps += Inspection.objects.filter(
            institution__merged_into_id__in=institutions
        ).values_list("visited_at", flat=True)
    operations = _ids(by_type["leads.jointoperation"])
    operations += JointParticipant.objects.filter(
        pk__in=_ids(by_type["leads.jointparticipant"])
    ).values_list("operation_id", flat=True)
    days = {_day(s) for s in stamps if s is not None}
    days |= {
        d
        for d in JointOperation.objects.filter(pk__in=operations).values_list(
            "planned_for", flat=True
        )
        if d is not None
    }
    return days | _lead_days(leads)


def state() -> RollupState | None:
    """The rollups' state; None before the first build (then every figure is recounted)."""
    return RollupState.objects.filter(pk=1).first()


def dirty_days(current: RollupState) -> set[datetime.date]:
    """Days changed by events after the watermark: the rollups may be stale on them."""
    return days_changed(Event.objects.filter(pk__gt=current.watermark))


def refresh(*, full: bool = False, lag: datetime.timedelta = LAG) -> tuple[int, int]:
    """Fold the events older than ``lag`` into the rollups; returns (days rebuilt, rows written).

    Runs under a lock on the state row, so two refreshes never interleave.
    """
    started = timezone.now()
    with transaction.atomic():
        RollupState.objects.get_or_create(pk=1)
        current = RollupState.objects.select_for_update().get(pk=1)
        settled = Event.objects.filter(at__lt=started - lag)
        watermark = settled.aggregate(m=Max("pk"))["m"] or current.watermark
        if full or current.finished_at is None:
            days = record_days()
            FigureRollup.objects.all().delete()
        else:
            days = days_changed(
                Event.objects.filter(
                    pk__gt=current.watermark, pk__lte=max(watermark, current.watermark)
                )
            )
        written = rebuild(days)
        current.watermark = max(watermark, current.watermark)
        current.started_at = started
        current.finished_at = timezone.now()
        current.save()
    return len(days), written


# --- reading ------------------------------------------------------------------------------------


def _summed(
    scope: FigureScope,
    metrics: list[str],
    start: datetime.date,
    end: datetime.date,
    skip: set[datetime.date],
) -> dict[str, int]:
    rows = FigureRollup.objects.filter(
        scope=scope.key, metric__in=metrics, day__gte=start, day__lte=end
    )
    if skip:
        rows = rows.exclude(day__in=sorted(skip))
    got = rows.order_by().values("metric").annotate(v=Sum("value"))
    return {row["metric"]: int(row["v"] or 0) for row in got}


def headline(scope: FigureScope, start: datetime.date, end: datetime.date) -> figures.Headline:
    """The five figures: rollups for settled days, a live recount of the days changed since."""
    current = state()
    if current is None or current.finished_at is None:
        return figures.recount(scope, start, end)
    dirty = {d for d in dirty_days(current) if start <= d <= end}
    department = scope.kind == "department"
    unit = None if department or dirty else aligned_unit(start, end)
    metrics = list(ADDITIVE) + ([f"inst_{unit}"] if unit else [])
    got = _summed(scope, metrics, start, end, dirty)
    for first, last in _runs(dirty):
        live = figures.recount(scope, first, last)
        for metric in ADDITIVE:
            got[metric] = got.get(metric, 0) + (live.value(metric) or 0)
    institutions: int | None = None
    if not department:
        institutions = (
            got.get(f"inst_{unit}", 0) if unit else figures.institutions_count(scope, start, end)
        )
    return figures.Headline(
        person_times=got.get("person_times", 0),
        institutions=institutions,
        visits=None if department else got.get("visits", 0),
        leads=got.get("leads", 0),
        disguised_cases=got.get("disguised_cases", 0),
        refunds_fen=got.get("refunds", 0),
    )


# --- checking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One rollup value that disagrees with the recount (0 stands for a missing row)."""

    metric: str
    scope: str
    day: datetime.date | None
    stored: int | None
    recounted: int | None

    def __str__(self) -> str:
        when = self.day.isoformat() if self.day else "-"
        return f"{self.metric} {self.scope} {when}: rollup {self.stored}, recount {self.recounted}"


def _region_keys(region: Region | None) -> set[str] | None:
    if region is None:
        return None
    ids = Region.objects.filter(path__startswith=region.path).values_list("pk", flat=True)
    return {f"region:{pk}" for pk in ids}


def _stale(key: Key, dirty: set[datetime.date]) -> bool:
    """A row ``headline`` does not read until the next refresh (it recounts instead)."""
    metric, _, day = key
    if not metric.startswith("inst_"):
        return day in dirty
    first, _ = unit_bounds(metric[-1], day)
    return any(first <= d <= day for d in dirty)


def row_differences(
    since: datetime.date | None = None, region: Region | None = None
) -> list[Difference]:
    """Every stored rollup row against the same row computed afresh from the records.

    Rows made stale by changes after the watermark are left out: ``headline`` does not read them
    (it recounts those days live) and the next refresh rewrites them.
    """
    days = {d for d in record_days() if since is None or d >= since}
    stored_rows = FigureRollup.objects.none()
    if days:
        stored_rows = _stored(days)
    keep = _region_keys(region)
    if keep is not None:
        stored_rows = stored_rows.filter(scope__in=sorted(keep))
    stored = {(r.metric, r.scope, r.day): r.value for r in stored_rows.iterator(chunk_size=5000)}
    fresh = compute(days) if days else {}
    if keep is not None:
        fresh = {k: v for k, v in fresh.items() if k[1] in keep}
    current = state()
    dirty = dirty_days(current) if current is not None else set()
    stored = {k: v for k, v in stored.items() if not _stale(k, dirty)}
    fresh = {k: v for k, v in fresh.items() if not _stale(k, dirty)}
    return [
        Difference(m, s, d, stored.get((m, s, d), 0), fresh.get((m, s, d), 0))
        for (m, s, d) in sorted(set(stored) | set(fresh))
        if stored.get((m, s, d), 0) != fresh.get((m, s, d), 0)
    ]


def headline_differences(
    scopes: Iterable[FigureScope], periods: Iterable[tuple[datetime.date, datetime.date]]
) -> list[Difference]:
    """``headline`` against ``figures.recount`` for every slice and period given."""
    found: list[Difference] = []
    for scope in scopes:
        for start, end in periods:
            fast, slow = headline(scope, start, end), figures.recount(scope, start, end)
            for metric in figures.METRICS:
                if fast.value(metric) != slow.value(metric):
                    label = f"{scope.key} {start}…{end}"
                    found.append(
                        Difference(metric, label, None, fast.value(metric), slow.value(metric))
                    )
    return found


def headlines(
    scope: FigureScope, periods: list[tuple[datetime.date, datetime.date]]
) -> list[figures.Headline]:
    """``headline`` of several periods (a trend by month) in three queries, not three each."""
    current = state()
    if current is None or current.finished_at is None or not periods:
        return [figures.recount(scope, start, end) for start, end in periods]
    dirty = dirty_days(current)
    low, high = min(p[0] for p in periods), max(p[1] for p in periods)
    by_day: dict[str, dict[datetime.date, int]] = defaultdict(dict)
    rows = FigureRollup.objects.filter(scope=scope.key, day__gte=low, day__lte=high)
    for metric, day, value in rows.values_list("metric", "day", "value"):
        by_day[metric][day] = value
    department = scope.kind == "department"
    result = []
    for start, end in periods:
        inside = {d for d in dirty if start <= d <= end}
        got = {
            m: sum(v for d, v in by_day[m].items() if start <= d <= end and d not in inside)
            for m in ADDITIVE
        }
        for first, last in _runs(inside):
            live = figures.recount(scope, first, last)
            for metric in ADDITIVE:
                got[metric] += live.value(metric) or 0
        unit = None if department or inside else aligned_unit(start, end)
        institutions: int | None = None
        if unit:
            institutions = sum(v for d, v in by_day[f"inst_{unit}"].items() if start <= d <= end)
        elif not department:
            institutions = figures.institutions_count(scope, start, end)
        result.append(
            figures.Headline(
                person_times=got["person_times"],
                institutions=institutions,
                visits=None if department else got["visits"],
                leads=got["leads"],
                disguised_cases=got["disguised_cases"],
                refunds_fen=got["refunds"],
            )
        )
    return result
