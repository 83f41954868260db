"""Round generation: who visits which institution, in which order.

Two halves. ``assign`` and ``risk_score`` are pure functions over plain numbers, so their
guarantees are property-tested (``tests/test_generation.py``). ``generate`` gathers the facts of a
round's place with a handful of set-based queries (no query per institution) and writes the task
tables with bulk inserts, so a province-scale round is a matter of seconds.

Who is in a round: every institution whose region lies in the round's place, not merged away and
not closed (registered, suspended, and field finds still pending approval).

Pools: an institution goes to the active inspectors of its community (``Institution.community``,
else its region when that is a community). When its community has nobody, it falls back to the
inspectors anywhere in its street, then in its district; when that is empty too it is
*unstaffed*: listed in ``Round.summary["unstaffed"]`` for the coordinator to assign by hand.

Balance and rotation (``assign``): inside each pool the loads differ by at most one. Institutions
are dealt in risk order, each to the least-loaded inspector that did not have it last round; a
repair pass then swaps or moves (keeping the balance) every institution still with its previous
inspector as long as that lowers the number of repeats. An institution therefore returns to its
previous inspector only when no single swap with another institution of the pool, and no move
that keeps the loads balanced, could avoid it.

Risk order (``risk_score``), highest first, ties by institution id::

    risk = 10 × open leads
         +  5 × past violations  (leads closed as rectified or penalised, or whose case was
                                   concluded, in the last two years)
         +  months since the last approved inspection, capped at 12 (never inspected: 13)
         +  5 if it is a field find still pending approval
         +  3 if it holds no licence

The "previous inspector" of an institution is the inspector of its item in the most recent
earlier round that was issued (a draft that was never issued sends nobody anywhere).
"""

from __future__ import annotations

import datetime
import heapq
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from bihuan.accounts.models import Assignment, Role
from bihuan.cases.models import CaseStatus
from bihuan.leads.models import Lead
from bihuan.leads.workflow import LEAD_OPEN, ClosureReason, LeadStatus
from bihuan.registry.models import Category, Institution, Status
from bihuan.screening.models import Inspection, Round, Task, TaskItem
from bihuan.screening.workflow import InspectionStatus, TaskKind
from bihuan.territory.models import Level, Region

OPEN_LEAD_WEIGHT = 10
PAST_VIOLATION_WEIGHT = 5
MONTH_CAP = 12
NEVER_INSPECTED = 13
PENDING_WEIGHT = 5
UNLICENSED_WEIGHT = 3
DAYS_PER_MONTH = 30
VIOLATION_YEARS = 2
BATCH = 5000
# Statuses of institutions a round lists: everything that may still be operating.
LISTED_STATUSES = (Status.REGISTERED, Status.SUSPENDED, Status.PENDING)
SUBSTANTIATED = (ClosureReason.RECTIFIED, ClosureReason.PENALISED)
K = TypeVar("K", bound=Hashable)


def risk_score(
    open_leads: int,
    past_violations: int,
    days_since_inspection: int | None,
    is_pending: bool,
    is_unlicensed: bool,
) -> int:
    """The documented risk score (module docstring): higher is visited first."""
    if days_since_inspection is None:
        months = NEVER_INSPECTED
    else:
        months = min(MONTH_CAP, max(0, days_since_inspection) // DAYS_PER_MONTH)
    return (
        OPEN_LEAD_WEIGHT * open_leads
        + PAST_VIOLATION_WEIGHT * past_violations
        + months
        + (PENDING_WEIGHT if is_pending else 0)
        + (UNLICENSED_WEIGHT if is_unlicensed else 0)
    )


def assign(
    institutions: Mapping[int, K],
    pools: Mapping[K, Sequence[int]],
    previous: Mapping[int, int | None],
) -> dict[int, int]:
    """Give each institution of a staffed pool one inspector of that pool.

    ``institutions`` maps institution → pool key, in risk order (highest first); ``pools`` maps a
    pool key to its inspectors; ``previous`` maps institution → last round's inspector. Institutions
    whose pool is missing or empty are left out of the result (they are unstaffed).
    """
    by_pool: dict[K, list[int]] = defaultdict(list)
    for institution, pool in institutions.items():
        if pools.get(pool):
            by_pool[pool].append(institution)
    result: dict[int, int] = {}
    for pool, members in by_pool.items():
        inspectors = sorted(set(pools[pool]))
        result.update(_assign_pool(members, inspectors, previous))
    return result


def _assign_pool(
    members: list[int], inspectors: list[int], previous: Mapping[int, int | None]
) -> dict[int, int]:
    """Deal one pool's institutions (in risk order) and repair the repeats by swaps and moves."""
    count = len(inspectors)
    base, extra = divmod(len(members), count)
    loads = dict.fromkeys(inspectors, 0)
    full = 0  # inspectors that reached base + 1
    heap = [(0, i, inspector) for i, inspector in enumerate(inspectors)]
    chosen: dict[int, int] = {}
    for institution in members:
        load, rank, first = heapq.heappop(heap)
        pick = (load, rank, first)
        last = previous.get(institution)
        if first == last and heap:
            second = heap[0]
            # The runner-up may take it when that keeps every load within base / base + 1.
            if second[0] < base or (second[0] == base and full < extra):
                pick = heapq.heappop(heap)
                heapq.heappush(heap, (load, rank, first))
        load, rank, inspector = pick
        chosen[institution] = inspector
        loads[inspector] = load + 1
        if load + 1 == base + 1:
            full += 1
        # Back on the heap while it may take more; the heap's least-loaded inspector always may
        # (were it at base with every extra slot taken, all n institutions would be dealt).
        if load + 1 < base or (load + 1 == base and extra):
            heapq.heappush(heap, (load + 1, rank, inspector))
    _repair(members, chosen, loads, previous, base, extra)
    return chosen


def _repair(
    members: list[int],
    chosen: dict[int, int],
    loads: dict[int, int],
    previous: Mapping[int, int | None],
    base: int,
    extra: int,
) -> None:
    """Swap or move repeated institutions away from their previous inspector while that helps."""
    improved = True
    while improved:
        improved = False
        for institution in members:
            holder = chosen[institution]
            if previous.get(institution) != holder:
                continue
            # A move keeps the balance when it takes one from a base + 1 load to a base load.
            if extra and loads[holder] == base + 1:
                target = next((i for i, n in sorted(loads.items()) if n == base), None)
                if target is not None:
                    chosen[institution] = target
                    loads[holder] -= 1
                    loads[target] += 1
                    improved = True
                    continue
            for other in members:
                other_holder = chosen[other]
                if other_holder != holder and previous.get(other) != holder:
                    chosen[institution], chosen[other] = other_holder, holder
                    improved = True
                    break


def repeats(assignment: Mapping[int, int], previous: Mapping[int, int | None]) -> list[int]:
    """Institutions that went to the same inspector as last round."""
    return [i for i, inspector in assignment.items() if previous.get(i) == inspector]


# ---------------------------------------------------------------------------- gathering


@dataclass
class Facts:
    """What generation knows of one institution of the round."""

    institution_id: int
    pool: int | None
    fallback: bool
    open_leads: int = 0
    past_violations: int = 0
    days_since_inspection: int | None = None
    is_pending: bool = False
    is_unlicensed: bool = False
    previous_inspector: int | None = None

    @property
    def risk(self) -> int:
        return risk_score(
            self.open_leads,
            self.past_violations,
            self.days_since_inspection,
            self.is_pending,
            self.is_unlicensed,
        )


@dataclass
class Plan:
    """A round's tables before they are written: items by inspector, in risk order."""

    facts: list[Facts]
    assignment: dict[int, int]
    home: dict[int, int]
    unstaffed: list[int]
    summary: dict[str, Any] = field(default_factory=dict)


def listed_institutions(region: Region) -> QuerySet[Institution]:
    """The institutions a round of ``region`` lists (see the module docstring)."""
    return Institution.objects.filter(
        region__path__startswith=region.path,
        merged_into__isnull=True,
        status__in=LISTED_STATUSES,
    )


def _widest(region: Region) -> Region:
    """The place whose inspectors may be fallbacks: the region's district, or the region itself."""
    if region.level in (Level.STREET, Level.COMMUNITY):
        codes = [p for p in region.path.split("/") if p]
        # path = province / city / district / street [/ community]
        district = Region.objects.filter(code__in=codes, level=Level.DISTRICT).first()
        return district or region
    return region


def _ancestors(path: str, by_code: Mapping[str, tuple[int, str]]) -> tuple[int | None, int | None]:
    """The street and district ids above (or at) a path."""
    street = district = None
    for code in [p for p in path.split("/") if p]:
        found = by_code.get(code)
        if found is None:
            continue
        pk, level = found
        if level == Level.STREET:
            street = pk
        elif level == Level.DISTRICT:
            district = pk
    return street, district


def _counts(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    return {institution: n for institution, n in rows}


def plan_round(round_: Round, *, today: datetime.date | None = None) -> Plan:
    """Gather the facts of the round's place and decide every table (reads only)."""
    today = today or timezone.localdate()
    region = round_.region
    widest = _widest(region)
    regions = list(
        Region.objects.filter(path__startswith=widest.path).values_list(
            "pk", "code", "level", "path"
        )
    )
    by_code = {code: (pk, level) for pk, code, level, _path in regions}
    path_of = {pk: path for pk, _code, _level, path in regions}
    level_of = {pk: level for pk, _code, level, _path in regions}

    # Pools: community → its own inspectors; street and district → every inspector under them.
    community_pool: dict[int, set[int]] = defaultdict(set)
    street_pool: dict[int, set[int]] = defaultdict(set)
    district_pool: dict[int, set[int]] = defaultdict(set)
    home: dict[int, int] = {}
    inspector_rows = (
        Assignment.objects.filter(
            role=Role.INSPECTOR,
            is_active=True,
            user__is_active=True,
            region__path__startswith=widest.path,
        )
        .order_by("region__path", "pk")
        .values_list("user_id", "region_id", "region__path")
    )
    for user_id, region_id, path in inspector_rows:
        if level_of.get(region_id) == Level.COMMUNITY:
            community_pool[region_id].add(user_id)
        street, district = _ancestors(path, by_code)
        if street is not None:
            street_pool[street].add(user_id)
        if district is not None:
            district_pool[district].add(user_id)
        # An inspector's task belongs to their own place when it lies in the round's place.
        if path.startswith(region.path):
            home.setdefault(user_id, region_id)

    listed = listed_institutions(region)
    facts: list[Facts] = []
    for pk, community_id, region_id, status, category in listed.values_list(
        "pk", "community_id", "region_id", "status", "category"
    ):
        own = community_id or (region_id if level_of.get(region_id) == Level.COMMUNITY else None)
        street, district = _ancestors(path_of.get(own or region_id, ""), by_code)
        pool: int | None = None
        fallback = False
        if own is not None and community_pool.get(own):
            pool = own
        elif street is not None and street_pool.get(street):
            pool, fallback = street, True
        elif district is not None and district_pool.get(district):
            pool, fallback = district, True
        facts.append(
            Facts(
                institution_id=pk,
                pool=pool,
                fallback=fallback,
                is_pending=status == Status.PENDING,
                is_unlicensed=category == Category.NONE,
            )
        )

    previous = _fill_risk(facts, listed.values("pk"), round_.pk, today)
    facts.sort(key=lambda f: (-f.risk, f.institution_id))

    pools: dict[int, list[int]] = {}
    for fact in facts:
        if fact.pool is not None and fact.pool not in pools:
            source = (
                community_pool
                if not fact.fallback
                else (street_pool if level_of.get(fact.pool) == Level.STREET else district_pool)
            )
            pools[fact.pool] = sorted(source[fact.pool])
    assignment = assign(
        {f.institution_id: f.pool for f in facts if f.pool is not None},
        pools,
        {f.institution_id: f.previous_inspector for f in facts},
    )
    unstaffed = [f.institution_id for f in facts if f.institution_id not in assignment]
    summary = {
        "institutions": len(facts),
        "assigned": len(assignment),
        "inspectors": len(set(assignment.values())),
        "pools": len(pools),
        "fallback": sum(f.fallback for f in facts),
        "repeats": len(repeats(assignment, previous)),
        "unstaffed": unstaffed,
    }
    return Plan(facts, assignment, home, unstaffed, summary)


@dataclass(frozen=True)
class RiskInputs:
    """What the risk score is computed from, per institution id (absent: zero or never)."""

    open_leads: dict[int, int]
    past_violations: dict[int, int]
    last_inspected: dict[int, datetime.datetime]

    def score(self, pk: int, today: datetime.date, *, is_pending: bool, is_unlicensed: bool) -> int:
        """``risk_score`` of one institution."""
        seen = self.last_inspected.get(pk)
        return risk_score(
            self.open_leads.get(pk, 0),
            self.past_violations.get(pk, 0),
            (today - timezone.localdate(seen)).days if seen is not None else None,
            is_pending,
            is_unlicensed,
        )


def risk_inputs(ids: QuerySet[Any] | list[int]) -> RiskInputs:
    """Open leads, past violations and the last approved visit of the institutions, set-based."""
    open_leads = _counts(
        Lead.objects.filter(institution_id__in=ids, status__in=sorted(LEAD_OPEN))
        .values("institution_id")
        .annotate(n=Count("pk"))
        .values_list("institution_id", "n")
    )
    since = timezone.now() - datetime.timedelta(days=365 * VIOLATION_YEARS)
    past = _counts(
        Lead.objects.filter(institution_id__in=ids)
        .filter(
            Q(status=LeadStatus.CLOSED, closure_reason__in=SUBSTANTIATED, closed_at__gte=since)
            | Q(case__status=CaseStatus.CONCLUDED, case__concluded_at__gte=since)
        )
        .values("institution_id")
        .annotate(n=Count("pk", distinct=True))
        .values_list("institution_id", "n")
    )
    last_seen: dict[int, datetime.datetime] = dict(
        Inspection.objects.filter(institution_id__in=ids, status=InspectionStatus.APPROVED)
        .values("institution_id")
        .annotate(last=Max(Coalesce("visited_at", "approved_at")))
        .values_list("institution_id", "last")
    )
    return RiskInputs(open_leads, past, last_seen)


def _fill_risk(
    facts: list[Facts], ids: QuerySet[Any], round_pk: int, today: datetime.date
) -> dict[int, int]:
    """Set the risk facts and previous inspector of ``facts`` (ids: a subquery of their pks)."""
    inputs = risk_inputs(ids)
    open_leads, past, last_seen = inputs.open_leads, inputs.past_violations, inputs.last_inspected
    previous: dict[int, int] = {}
    earlier = (
        TaskItem.objects.filter(
            institution_id__in=ids, round__issued_at__isnull=False, task__kind=TaskKind.INSTITUTIONS
        )
        .exclude(round_id=round_pk)
        .order_by("institution_id", "-round__starts_on", "-round_id")
        .values_list("institution_id", "task__inspector_id")
    )
    for institution_id, inspector_id in earlier:
        previous.setdefault(institution_id, inspector_id)

    for fact in facts:
        pk = fact.institution_id
        fact.open_leads = open_leads.get(pk, 0)
        fact.past_violations = past.get(pk, 0)
        seen = last_seen.get(pk)
        if seen is not None:
            fact.days_since_inspection = (today - timezone.localdate(seen)).days
        fact.previous_inspector = previous.get(pk)
    return previous


def institution_facts(
    round_: Round, institution: Institution, *, today: datetime.date | None = None
) -> Facts:
    """The risk facts of one institution added to a round by hand."""
    fact = Facts(
        institution_id=institution.pk,
        pool=None,
        fallback=False,
        is_pending=institution.status == Status.PENDING,
        is_unlicensed=institution.category == Category.NONE,
    )
    ids = Institution.objects.filter(pk=institution.pk).values("pk")
    _fill_risk([fact], ids, round_.pk, today or timezone.localdate())
    return fact


def write_plan(round_: Round, plan: Plan) -> dict[str, Any]:
    """Write the plan's tasks and items with bulk inserts; returns the round's summary."""
    order = [f for f in plan.facts if f.institution_id in plan.assignment]
    inspectors: list[int] = []
    seen: set[int] = set()
    for fact in order:
        inspector = plan.assignment[fact.institution_id]
        if inspector not in seen:
            seen.add(inspector)
            inspectors.append(inspector)
    inspectors.sort()
    tasks = Task.objects.bulk_create(
        [
            Task(
                round=round_,
                inspector_id=inspector,
                kind=TaskKind.INSTITUTIONS,
                region_id=plan.home.get(inspector, round_.region_id),
            )
            for inspector in inspectors
        ],
        batch_size=BATCH,
    )
    task_of = {task.inspector_id: task.pk for task in tasks}
    positions: Counter[int] = Counter()
    items: list[TaskItem] = []
    for fact in order:
        inspector = plan.assignment[fact.institution_id]
        positions[inspector] += 1
        items.append(
            TaskItem(
                round_id=round_.pk,
                task_id=task_of[inspector],
                institution_id=fact.institution_id,
                position=positions[inspector],
                risk=fact.risk,
                open_leads=fact.open_leads,
                past_violations=fact.past_violations,
                days_since_inspection=fact.days_since_inspection,
                previous_inspector_id=fact.previous_inspector,
            )
        )
        if len(items) >= BATCH:
            TaskItem.objects.bulk_create(items)
            items = []
    if items:
        TaskItem.objects.bulk_create(items)
    summary = dict(plan.summary, tasks=len(tasks))
    return summary


def generate(round_: Round, *, today: datetime.date | None = None) -> dict[str, Any]:
    """Plan and write a fresh round's task tables; call inside the service's transaction."""
    return write_plan(round_, plan_round(round_, today=today))
