"""Synthetic leads and work orders for load tests and benchmarks, reproducible from a seed.

Rows are bulk-inserted, not made one by one through the services (a million work orders would take
hours), but they keep the services' invariants: an open lead has its bureau as owner and a
deadline, a dispatched lead has one live lead-department order and at most one order per
department, every lead and order has a creation event carrying its status (so ``check_loop``
agrees with the log), and everything is marked synthetic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from bihuan.accounts.models import Department, DepartmentKind
from bihuan.audit.models import Event
from bihuan.audit.services import events_bulk_record
from bihuan.leads.models import Lead, ViolationType, WorkOrder
from bihuan.leads.selectors import bureau_for
from bihuan.leads.workflow import LeadSource, LeadStatus, OrderRole, OrderStatus
from bihuan.territory.codes import ancestor_paths
from bihuan.territory.models import Level, Region

BATCH = 5000
_PLACES = ("小区", "公寓", "商务楼", "花园", "大厦", "家园", "名苑", "广场")
_WHAT = (
    "居民楼内疑似开展学科类一对一辅导",
    "以托管名义在周末开展数学、英语培训",
    "以家政服务名义提供住家教师",
    "校门口散发学科类培训传单",
    "疑似超前超标培训并收取半年学费",
    "场所无消防通道，低龄儿童在四楼上课",
)


@dataclass
class Generated:
    leads: int = 0
    work_orders: int = 0
    events: int = 0


def _communities(region: Region | None) -> list[Region]:
    rows = Region.objects.filter(level=Level.COMMUNITY, is_active=True)
    if region is not None:
        rows = rows.filter(path__startswith=region.path)
    return list(rows.order_by("path"))


def _departments_by_kind(community: Region) -> dict[str, Department]:
    above = ancestor_paths(community.path)
    found: dict[str, Department] = {}
    for dept in Department.objects.filter(is_active=True, jurisdiction__path__in=above).order_by(
        "jurisdiction__depth"
    ):
        found[dept.kind] = dept  # deeper rows come later and win: the nearest department
    return found


def generate_leads(
    *,
    count: int,
    status: str = LeadStatus.NEW,
    within: Region | None = None,
    seed: int = 1,
    overdue_share: float = 0.01,
    now: datetime | None = None,
) -> Generated:
    """Insert ``count`` leads, either new (for triage) or dispatched with two orders each."""
    if status not in (LeadStatus.NEW, LeadStatus.DISPATCHED):
        raise ValueError("generated leads are new or dispatched")
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by seed
    now = now or timezone.now()
    communities = _communities(within)
    if not communities:
        raise ValueError("no community to put leads in: load or generate a territory first")
    types = list(ViolationType.objects.filter(is_active=True).order_by("code"))
    # Each community's bureau and departments, looked up once.
    places: list[tuple[Region, Department, dict[str, Department]]] = []
    for community in communities:
        bureau = bureau_for(community)
        if bureau is None:
            continue
        places.append((community, bureau, _departments_by_kind(community)))
    if not places:
        raise ValueError("no education bureau covers the communities")
    result = Generated()
    stamp = int(now.timestamp())
    done = 0
    while done < count:
        size = min(BATCH, count - done)
        with transaction.atomic():
            batch = _batch(rng, size, done, stamp, status, places, types, now, overdue_share)
            result.leads += batch.leads
            result.work_orders += batch.work_orders
            result.events += batch.events
        done += size
    return result


def _batch(
    rng: random.Random,
    size: int,
    offset: int,
    stamp: int,
    status: str,
    places: list[tuple[Region, Department, dict[str, Department]]],
    types: list[ViolationType],
    now: datetime,
    overdue_share: float,
) -> Generated:
    leads: list[Lead] = []
    picks: list[tuple[ViolationType, Department, Department | None]] = []
    dispatched = status == LeadStatus.DISPATCHED
    for i in range(size):
        community, bureau, departments = places[rng.randrange(len(places))]
        vtype = types[rng.randrange(len(types))]
        lead_dept = departments.get(
            vtype.lead_kind, departments.get(DepartmentKind.EDUCATION, bureau)
        )
        assist = next(
            (
                departments[k]
                for k in vtype.assisting_kinds
                if k in departments and departments[k].pk != lead_dept.pk
            ),
            None,
        )
        overdue = rng.random() < overdue_share
        due = (
            now - timedelta(days=rng.randint(1, 20))
            if overdue
            else now + timedelta(days=rng.randint(1, 15))
        )
        leads.append(
            Lead(
                reference=f"SY{stamp % 100000:05d}{offset + i:09d}"[:20],
                source=rng.choice(LeadSource.values),
                status=status,
                description=rng.choice(_WHAT),
                place_name=f"{community.name}{rng.choice(_PLACES)}{rng.randint(1, 30)}栋",
                address=f"{community.name}{rng.randint(1, 200)}号",
                region=community,
                # A dispatched lead belongs to its lead department until that one replies.
                owner_department=lead_dept if dispatched else bureau,
                due_at=due,
                dispatched_at=now if dispatched else None,
                accepted_at=now if dispatched else None,
                is_synthetic=True,
            )
        )
        picks.append((vtype, lead_dept, assist))
    Lead.objects.bulk_create(leads, batch_size=1000)
    through = Lead.violation_types.through
    through.objects.bulk_create(
        [
            through(lead_id=lead.pk, violationtype_id=pick[0].pk)
            for lead, pick in zip(leads, picks, strict=True)
        ],
        batch_size=1000,
    )
    events: list[Event] = [
        Event(
            verb="lead.created",
            object_type="leads.lead",
            object_id=str(lead.pk),
            object_repr=lead.reference,
            actor_label="generator",
            after={"status": lead.status, "generated": True},
        )
        for lead in leads
    ]
    orders: list[WorkOrder] = []
    if dispatched:
        for lead, (vtype, lead_dept, assist) in zip(leads, picks, strict=True):
            due = lead.due_at or now
            signed = rng.random() < 0.5
            for dept, role in ((lead_dept, OrderRole.LEAD), (assist, OrderRole.ASSIST)):
                if dept is None:
                    continue
                orders.append(
                    WorkOrder(
                        lead=lead,
                        department=dept,
                        role=role,
                        status=OrderStatus.SIGNED if signed else OrderStatus.AWAITING,
                        reason=f"{vtype.code}: generated",
                        sign_due=due,
                        signed_at=now if signed else None,
                        reply_due=due if signed else None,
                        is_synthetic=True,
                    )
                )
        WorkOrder.objects.bulk_create(orders, batch_size=1000)
        events += [
            Event(
                verb="work_order.created",
                object_type="leads.workorder",
                object_id=str(order.pk),
                object_repr=f"{order.lead.reference}·{order.department.short_name}",
                actor_label="generator",
                after={"status": order.status, "lead": order.lead_id, "generated": True},
            )
            for order in orders
        ]
    events_bulk_record(events)
    return Generated(leads=len(leads), work_orders=len(orders), events=len(events))
