"""A small world of activity for the figure tests, and an independent recount of it in Python.

The world: two communities of the demo city (文昌, 槐荫), two areas (the demo's 广场学区片区 and a
second one), two departments (孝南区教育局, 孝南区市场监管局), five institutions with two
inspections each, waiting to be approved or not. A ``Plan`` says what happened (visits, leads with
their orders, cases and refunds, joint operations); ``apply`` writes it with an event per record,
as the services would, and ``expected`` computes the five figures from the plan alone, without
the database: that is the independent recount the figures are checked against.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from bihuan.accounts.models import User
from bihuan.audit.services import event_record
from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus
from bihuan.demo import data
from bihuan.leads.models import JointOperation, JointParticipant, Lead, WorkOrder
from bihuan.leads.tests import factories as lf
from bihuan.leads.workflow import JointStatus, LeadSource, LeadStatus, OrderRole, OrderStatus
from bihuan.registry.models import Institution
from bihuan.reports.figures import Headline
from bihuan.reports.scope import FigureScope
from bihuan.screening.models import Inspection, InspectionParticipant
from bihuan.screening.tests import factories as sf
from bihuan.screening.workflow import InspectionStatus, VisitOutcome
from bihuan.territory.models import Area, Region

LOCAL = ZoneInfo("Asia/Shanghai")
YEAR_START = datetime.date(2026, 1, 1)
DAYS = 120  # activity falls in 2026-01-01 … 2026-04-30
COMMUNITIES = (data.WENCHANG, data.HUAIYIN)
DEPARTMENTS = ("孝南区教育局", "孝南区市场监管局")
# Institution index → (community index, area index or None).
INSTITUTIONS = ((0, 0), (0, 0), (0, None), (1, 1), (1, 0))
HOURS = (0, 9, 23)  # the small hours and the late evening test the Asia/Shanghai day


@dataclass(frozen=True)
class World:
    """Ids of the fixed part of the world, built once per test module."""

    communities: tuple[int, ...]
    areas: tuple[int, ...]
    departments: tuple[int, ...]
    institutions: tuple[int, ...]
    inspections: tuple[tuple[int, int], ...]  # (inspection id, institution index)
    users: tuple[int, ...]
    bureau: int


def build_world() -> World:
    """Institutions, an extra area and the inspections that plans approve (or not)."""
    regions = [lf.region(code) for code in COMMUNITIES]
    area1 = Area.objects.get(name=data.AREA.name)
    area2 = Area.objects.create(name="槐荫测试片区", region=regions[1])
    areas = (area1, area2)
    institutions = []
    for i, (community, area) in enumerate(INSTITUTIONS):
        inst = lf.institution_make(f"图表测试机构{i}", region_code=COMMUNITIES[community])
        Institution.objects.filter(pk=inst.pk).update(
            area=areas[area] if area is not None else None
        )
        institutions.append(inst)
    inspector = User.objects.get(username="yangtiezhu")
    inspections = []
    for i, inst in enumerate(institutions):
        for _ in range(2):
            item = sf.issued_round(inspector, [inst], region=inst.region).items.get()
            inspections.append((sf.submitted_inspection(item).pk, i))
    users = User.objects.filter(
        username__in=["inspector2", "wenchang", "huaiyin", "supervisor", "market", "gongan"]
    ).order_by("username")
    return World(
        communities=tuple(r.pk for r in regions),
        areas=tuple(a.pk for a in areas),
        departments=tuple(lf.department(n).pk for n in DEPARTMENTS),
        institutions=tuple(i.pk for i in institutions),
        inspections=tuple(inspections),
        users=tuple(u.pk for u in users),
        bureau=lf.department("孝南区教育局").pk,
    )


# --- what happened -------------------------------------------------------------------------------


@dataclass
class VisitPlan:
    slot: int  # which of the world's inspections
    status: str
    outcome: str
    day: int
    hour: int
    extra: tuple[int, ...]  # indices into world.users who also took part
    late: bool = False  # written after the rollups were built


@dataclass
class LeadPlan:
    community: int
    area: int | None
    day: int
    hour: int
    merged: bool
    orders: tuple[tuple[int, bool], ...]  # (department index, live)
    case: tuple[int, bool] | None  # (concluded day, disguised)
    refunds: tuple[tuple[int, int, bool], ...]  # (amount fen, day, verified)
    late: bool = False


@dataclass
class JointPlan:
    leads: tuple[int, ...]
    day: int
    recorded: bool
    people: tuple[tuple[int, int | None], ...]  # (user index, department index or None)
    late: bool = False


@dataclass
class Plan:
    visits: list[VisitPlan] = field(default_factory=list)
    leads: list[LeadPlan] = field(default_factory=list)
    joints: list[JointPlan] = field(default_factory=list)
    merged_institution: bool = False  # institution 2 merged into 0 (after the rollups)


def _day(n: int) -> datetime.date:
    return YEAR_START + datetime.timedelta(days=n)


def _at(n: int, hour: int = 10) -> datetime.datetime:
    return datetime.datetime.combine(_day(n), datetime.time(hour, 30), tzinfo=LOCAL)


def _event(obj: Any) -> None:
    event_record(actor=None, verb="test.figures", obj=obj)


def apply_visit(world: World, visit: VisitPlan) -> None:
    """Approve (or return, or leave submitted) one of the world's inspections."""
    pk, _ = world.inspections[visit.slot]
    Inspection.objects.filter(pk=pk).update(
        status=visit.status,
        outcome=visit.outcome,
        visited_at=_at(visit.day, visit.hour),
        approved_at=timezone.now() if visit.status == InspectionStatus.APPROVED else None,
    )
    for u in visit.extra:
        InspectionParticipant.objects.get_or_create(inspection_id=pk, user_id=world.users[u])
    _event(Inspection.objects.get(pk=pk))


def apply_lead(world: World, plan: LeadPlan, survivor: Lead | None, n: int) -> Lead:
    """One lead with its orders, case and refunds, each with its event."""
    region = Region.objects.get(pk=world.communities[plan.community])
    merged = plan.merged and survivor is not None
    lead = Lead.objects.create(
        reference=f"T{uuid.uuid4().hex[:10]}{n}",
        source=LeadSource.TIP,
        status=LeadStatus.MERGED if merged else LeadStatus.NEW,
        merged_into=survivor if merged else None,
        description="测试线索",
        place_name="测试地点",
        region=region,
        area_id=world.areas[plan.area] if plan.area is not None else None,
        owner_department_id=world.bureau,
        due_at=_at(plan.day + 7),
    )
    Lead.objects.filter(pk=lead.pk).update(created_at=_at(plan.day, plan.hour))
    _event(lead)
    has_lead_role = False
    for dept, live in plan.orders:
        role = OrderRole.ASSIST if has_lead_role or not live else OrderRole.LEAD
        has_lead_role = has_lead_role or role == OrderRole.LEAD
        order = WorkOrder.objects.create(
            lead=lead,
            department_id=world.departments[dept],
            role=role,
            status=OrderStatus.AWAITING if live else OrderStatus.WITHDRAWN,
            sign_due=_at(plan.day + 2),
        )
        _event(order)
    if plan.case is not None:
        day, disguised = plan.case
        case = Case.objects.create(
            lead=lead,
            region=region,
            department_id=world.bureau,
            status=CaseStatus.CONCLUDED,
            concluded_at=_at(day, plan.hour),
            is_disguised=disguised,
        )
        _event(case)
        verifier = User.objects.get(pk=world.users[0])
        for amount, rday, verified in plan.refunds:
            refund = Refund.objects.create(
                case=case,
                amount_fen=amount,
                families=1,
                status=RefundStatus.VERIFIED if verified else RefundStatus.REPORTED,
                reported_by=verifier,
                verified_by=verifier if verified else None,
                verified_at=_at(rday, plan.hour) if verified else None,
            )
            _event(refund)
    return lead


def apply_joint(world: World, plan: JointPlan, leads: list[Lead], n: int) -> None:
    """One joint operation on some of the leads, with its team."""
    operation = JointOperation.objects.create(
        title=f"联合检查{n}",
        status=JointStatus.RECORDED if plan.recorded else JointStatus.CONFIRMED,
        region=leads[plan.leads[0]].region,
        planned_for=_day(plan.day),
    )
    operation.leads.set([leads[i] for i in plan.leads])
    for user, dept in plan.people:
        JointParticipant.objects.create(
            operation=operation,
            user_id=world.users[user],
            name=f"u{user}",
            department_id=world.departments[dept] if dept is not None else None,
        )
    _event(operation)


def merge_institution(world: World) -> None:
    """Institution 2 turns out to be a duplicate of institution 0."""
    Institution.objects.filter(pk=world.institutions[2]).update(
        merged_into_id=world.institutions[0]
    )
    _event(Institution.objects.get(pk=world.institutions[2]))


def apply(world: World, plan: Plan, leads: list[Lead], *, late: bool) -> None:
    """Write the early (or the late) part of the plan; ``leads`` collects the leads written."""
    for visit in plan.visits:
        if visit.late == late:
            apply_visit(world, visit)
    for n, lead in enumerate(plan.leads):
        if lead.late == late:
            leads.append(apply_lead(world, lead, leads[0] if leads else None, n))
    for n, joint in enumerate(plan.joints):
        # A joint operation waits for its latest lead.
        joint_late = joint.late or any(plan.leads[i].late for i in joint.leads)
        if joint_late == late:
            apply_joint(world, joint, leads, n)
    if plan.merged_institution and late:
        merge_institution(world)


# --- the independent recount ---------------------------------------------------------------------


def _local(n: int, hour: int) -> datetime.date:
    return _at(n, hour).astimezone(LOCAL).date()


def expected(
    world: World, plan: Plan, scope: FigureScope, start: datetime.date, end: datetime.date
) -> Headline:
    """The five figures computed from the plan alone."""

    def inside(d: datetime.date) -> bool:
        return start <= d <= end

    def community_in(c: int) -> bool:
        return scope.kind == "region" and (
            world.communities[c] == scope.id or _under(world.communities[c], scope)
        )

    def institution_in(i: int) -> bool:
        community, area = INSTITUTIONS[i]
        if scope.kind == "area":
            return area is not None and world.areas[area] == scope.id
        return community_in(community)

    def lead_in(lead: LeadPlan) -> bool:
        if scope.kind == "area":
            return lead.area is not None and world.areas[lead.area] == scope.id
        if scope.kind == "department":
            return any(world.departments[d] == scope.id and live for d, live in lead.orders)
        return community_in(lead.community)

    department = scope.kind == "department"
    person_times = 0
    visits = 0
    screened: set[int] = set()
    # The latest plan for each slot wins (a slot approved twice is one inspection).
    final: dict[int, VisitPlan] = {v.slot: v for v in plan.visits}
    for v in final.values():
        _, inst = world.inspections[v.slot]
        if department or v.status != InspectionStatus.APPROVED:
            continue
        if not inside(_local(v.day, v.hour)) or not institution_in(inst):
            continue
        person_times += 1 + len(set(v.extra))
        if v.outcome == VisitOutcome.VISITED:
            visits += 1
            screened.add(0 if plan.merged_institution and inst == 2 else inst)
    for j in plan.joints:
        if not j.recorded or not inside(_day(j.day)):
            continue
        if department:
            person_times += sum(
                1 for _, d in j.people if d is not None and world.departments[d] == scope.id
            )
        elif any(lead_in(plan.leads[i]) for i in j.leads):
            person_times += len(j.people)
    leads = cases = refunds = 0
    for n, lead in enumerate(plan.leads):
        if not lead_in(lead):
            continue
        merged = lead.merged and n > 0
        if not merged and inside(_local(lead.day, lead.hour)):
            leads += 1
        if lead.case is not None:
            day, disguised = lead.case
            if disguised and inside(_local(day, lead.hour)):
                cases += 1
            refunds += sum(
                amount
                for amount, rday, verified in lead.refunds
                if verified and inside(_local(rday, lead.hour))
            )
    return Headline(
        person_times=person_times,
        institutions=None if department else len(screened),
        visits=None if department else visits,
        leads=leads,
        disguised_cases=cases,
        refunds_fen=refunds,
    )


_PATHS: dict[int, str] = {}


def _under(region_id: int, scope: FigureScope) -> bool:
    if region_id not in _PATHS:
        _PATHS[region_id] = Region.objects.get(pk=region_id).path
    return _PATHS[region_id].startswith(scope.path)


def slices(world: World) -> list[FigureScope]:
    """Every slice the tests look at: the city, the street, both communities, areas, departments."""
    result = [
        FigureScope("region", r.pk, r.name, r.path)
        for r in Region.objects.filter(
            code__in=[data.XIAOGAN, data.GUANGCHANG, *COMMUNITIES]
        ).order_by("path")
    ]
    result += [FigureScope("area", pk, str(pk)) for pk in world.areas]
    result += [FigureScope("department", pk, str(pk)) for pk in world.departments]
    return result
