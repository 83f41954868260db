"""A synthetic year of activity in the demo city, so figures, dashboards and reports show something.

``load_demo_history`` writes 1 January of this year → yesterday: closed monthly screening rounds in
the communities that have inspectors or coordinators, with approved inspections (version 1, an
approval review, answers that pass the default checklist); leads from every source, most of them
dispatched, replied, verified and closed, a few merged or dismissed; cases with verified refunds;
and a few recorded joint operations.

The records are backdated, so they are bulk-written rather than made through the services (whose
timestamps are "now"), each WITH the events the services would have written (same verbs, the
last one carrying the record's status), so ``check_loop`` and the figure rollups read them as they
read any other record. Leads and work orders are marked synthetic; rounds carry
``summary["synthetic"]``. Reproducible from ``SEED``; idempotent: the closed rounds it made are the
marker, so a second run adds nothing. Photos are not made: the default checklist's required
facade photo is the one answer the stored versions lack.
"""

from __future__ import annotations

import datetime
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bihuan.accounts.models import Assignment, Department, DepartmentKind, Role, User
from bihuan.audit.models import Event
from bihuan.audit.services import events_bulk_record
from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus
from bihuan.core.workdays import add_working_days
from bihuan.demo import data
from bihuan.leads.models import JointOperation, JointParticipant, Lead, ViolationType, WorkOrder
from bihuan.leads.routing import resolve_kind
from bihuan.leads.selectors import bureau_for
from bihuan.leads.workflow import (
    ClosureReason,
    JointStatus,
    LeadSource,
    LeadStatus,
    OrderRole,
    OrderStatus,
)
from bihuan.registry.models import Institution
from bihuan.screening import checklists
from bihuan.screening.models import (
    ChecklistVersion,
    Inspection,
    InspectionParticipant,
    InspectionReview,
    InspectionVersion,
    Round,
    Task,
    TaskItem,
)
from bihuan.screening.workflow import (
    InspectionStatus,
    ReviewDecision,
    RoundStatus,
    TaskKind,
    VersionStatus,
    VisitOutcome,
)
from bihuan.territory.codes import ancestor_paths
from bihuan.territory.models import Level, Region, Sentinel

SEED = 20231225  # the article's date: the same history every time
LOCAL = ZoneInfo("Asia/Shanghai")
CHECKLIST_TEMPLATE = "default"
MARK = "（历史）"  # the history rounds' names end with it: the idempotency marker
VISIT_SHARE = 0.9  # institutions of a round visited and approved
FLAG_SHARE = 0.04  # approved visits with a flagged answer, each a lead
LEADS_PER_MONTH = 6  # leads from schools, tips and the bureau, besides the inspections'
GENERATOR = "demo-history"
SCHOOL_SENTINEL = "体育路学校"  # the demo's school sentinel reports the school leads

# The answers of a clean visit: every required question of the default checklist, nothing flagged.
CLEAN_ANSWERS: dict[str, Any] = {
    "has_school_licence": "yes",
    "licence_displayed": "yes",
    "business_licence": "yes",
    "address_matches": "yes",
    "scope_matches": "yes",
    "premises_kind": "commercial",
    "top_floor": 2,
    "area_m2": 260,
    "students_present": 12,
    "space_per_student": "yes",
    "exits_clear": "yes",
    "fire_equipment": "yes",
    "no_mixed_use": "yes",
    "fire_plan": "yes",
    "subject_training": "no",
    "hours_ok": "yes",
    "preschool_subject": "no",
    "competitions": "no",
    "disguised_forms": ["none"],
    "staff_count": 6,
    "staff_posted": "yes",
    "background_checks": "yes",
    "serving_teachers": "no",
    "collects_fees": "yes",
    "price_posted": "yes",
    "model_contract": "yes",
    "prepaid_months": 3,
    "prepaid_hours": 48,
    "supervised_account": "yes",
    "training_loans": "no",
    "outdoor_ads": "no",
    "misleading_claims": "no",
    "provides_meals": "no",
    "location": {"lat": 30.9245, "lng": 113.9166, "accuracy": 15},
}
# Flagged answers an inspector may meet, each with the note the checklist asks for as evidence.
FLAGS: tuple[tuple[str, Any, str], ...] = (
    ("hours_ok", "no", "周五晚上21:10仍有学生在上课。"),
    ("misleading_claims", "yes", "宣传单写有“保过”“提分30分”等字样。"),
    ("supervised_account", "no", "学费由举办者个人微信收取，未进入监管账户。"),
    ("serving_teachers", "yes", "授课教师自述为附近中学在职教师。"),
    ("competitions", "yes", "墙上张贴“杯赛”获奖排名。"),
)
REPLIES = (
    "已现场核查，责令停止违规培训，督促退还学费；已约谈举办者。",
    "经核查情况属实，已下达责令整改通知书，限期整改。",
    "已会同社区现场检查，当场制止违规行为，将持续跟踪。",
    "经核查未发现违规培训行为，已告知举报人。",
)
WHAT = (
    "家长反映：居民楼内有人开展初中数学一对一辅导，按课时收费。",
    "学校老师反映：一托管班在周末为小学生集中讲授语文、数学课程。",
    "群众举报：以“住家教师”名义提供高中学科类培训。",
    "家长反映：一机构以“思维训练”名义开展小学奥数培训，已收取半年学费。",
    "学校反映：校门口有人散发学科类培训传单。",
    "群众举报：一培训机构疏散通道被堵塞，低龄儿童在四楼上课。",
    "家长反映：一机构以“研学营”名义在寒假开展学科类集中授课。",
    "教育局巡查发现：一机构未在监管账户收取预付费，一次性收取一年学费。",
)
PLACES = ("小区", "公寓", "商务楼", "花园", "大厦", "家园", "名苑", "广场")


@dataclass
class _Log:
    """Events to write, in order, so each record's last event carries its status."""

    rows: list[Event] = field(default_factory=list)

    def add(self, verb: str, obj: Any, after: dict[str, Any], actor: User | None = None) -> None:
        self.rows.append(
            Event(
                actor=actor,
                actor_label=actor.get_username() if actor else GENERATOR,
                verb=verb,
                object_type=obj._meta.label_lower,
                object_id=str(obj.pk),
                object_repr=str(obj)[:200],
                after=after | {"synthetic": True},
            )
        )


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=LOCAL)


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def months_until(yesterday: datetime.date) -> list[tuple[datetime.date, datetime.date]]:
    """The months of the year up to ``yesterday``, the last one cut at it."""
    result = []
    for month in range(1, yesterday.month + 1):
        start = datetime.date(yesterday.year, month, 1)
        following = datetime.date(yesterday.year + (month == 12), month % 12 + 1, 1)
        result.append((start, min(following - datetime.timedelta(days=1), yesterday)))
    return result


def answers_for(flag: tuple[str, Any, str] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw values and notes of one visit: clean, or with one flagged answer and its note."""
    values = dict(CLEAN_ANSWERS)
    notes: dict[str, str] = {}
    if flag is not None:
        values[flag[0]] = flag[1]
        notes[flag[0]] = flag[2]
    return values, notes


def checked_answers(
    definition: dict[str, Any], flag: tuple[str, Any, str] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The answers of a visit checked by ``checklists.evaluate``: clean values and its flags."""
    values, notes = answers_for(flag)
    photo_questions = {
        q["name"] for q in definition.get("questions", []) if q.get("type") == "photo"
    }
    result = checklists.evaluate(definition, values, notes, {})
    # No photos are made for the demo: only a missing photo may be reported.
    wrong = {k: v for k, v in result.errors.items() if k not in photo_questions}
    if wrong:
        raise ValueError(f"demo answers do not pass the checklist: {wrong}")
    return {"values": result.clean_values, "notes": notes}, result.flags


def _departments_by_kind(community: Region) -> dict[str, Department]:
    found: dict[str, Department] = {}
    for dept in Department.objects.filter(
        is_active=True, jurisdiction__path__in=ancestor_paths(community.path)
    ).order_by("jurisdiction__depth"):
        found[dept.kind] = dept  # deeper jurisdictions come later and win: the nearest one
    return found


def _people(community: Region) -> list[User]:
    """Inspectors and coordinators of the community (who visit), inspectors first."""
    rows = Assignment.objects.filter(
        is_active=True, region=community, role__in=[Role.INSPECTOR, Role.COORDINATOR]
    ).select_related("user")
    ordered = sorted(rows, key=lambda a: (a.role != Role.INSPECTOR, a.user.username))
    seen: dict[int, User] = {}
    for a in ordered:
        seen.setdefault(a.user_id, a.user)
    return list(seen.values())


def _coordinator(community: Region) -> User | None:
    found = (
        Assignment.objects.filter(is_active=True, region=community, role=Role.COORDINATOR)
        .select_related("user")
        .order_by("user__username")
        .first()
    )
    return found.user if found else None


class _History:
    """One run of the loader: the random source, the log, the tallies."""

    def __init__(self, yesterday: datetime.date) -> None:
        self.rng = random.Random(SEED)  # noqa: S311 - synthetic data, reproducible by seed
        self.yesterday = yesterday
        self.log = _Log()
        self.counts = {
            "rounds": 0,
            "inspections": 0,
            "leads": 0,
            "work_orders": 0,
            "cases": 0,
            "refunds": 0,
            "joint_operations": 0,
        }
        self.supervisor = User.objects.get(username="supervisor")
        self.types = {t.code: t for t in ViolationType.objects.filter(is_active=True)}
        self.flagged: list[tuple[Inspection, list[dict[str, Any]]]] = []
        self.flagged_answers: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}

    # --- screening ------------------------------------------------------------------------------

    def rounds(self, checklist: ChecklistVersion) -> None:
        """One closed round a month in each community with people to visit."""
        communities = Region.objects.filter(
            level=Level.COMMUNITY,
            assignments__role__in=[Role.INSPECTOR, Role.COORDINATOR],
            assignments__is_active=True,
        ).distinct()
        clean, _ = checked_answers(checklist.definition, None)
        self.flagged_answers = {f[0]: checked_answers(checklist.definition, f) for f in FLAGS}
        for community in communities.order_by("path"):
            people = _people(community)
            coordinator = _coordinator(community) or self.supervisor
            places = list(
                Institution.objects.filter(
                    Q(region=community) | Q(community=community), merged_into__isnull=True
                )
                .exclude(status__in=["pending", "closed"])
                .order_by("pk")
            )
            if not people or not places:
                continue
            for start, end in months_until(self.yesterday):
                self.round(community, checklist, start, end, people, coordinator, places, clean)

    def round(
        self,
        community: Region,
        checklist: ChecklistVersion,
        start: datetime.date,
        end: datetime.date,
        people: list[User],
        coordinator: User,
        places: list[Institution],
        clean: dict[str, Any],
    ) -> None:
        """A closed round of one month: task tables, visits, versions, reviews, participants."""
        rng = self.rng
        closed_at = _at(end, 18)
        round_ = Round.objects.create(
            name=f"{community.name} {start.year}年{start.month:02d}月排查{MARK}",
            region=community,
            checklist=checklist,
            starts_on=start,
            ends_on=end,
            status=RoundStatus.CLOSED,
            summary={"synthetic": True, "institutions": len(places)},
            created_by=coordinator,
            issued_at=_at(start, 9),
            issued_by=coordinator,
            closed_at=closed_at,
        )
        for verb, status in (
            ("round.opened", RoundStatus.DRAFT),
            ("round.issued", RoundStatus.ISSUED),
            ("round.closed", RoundStatus.CLOSED),
        ):
            self.log.add(verb, round_, {"status": status}, coordinator)
        self.counts["rounds"] += 1
        # Inspectors take the institutions in turn, rotated each month.
        offset = start.month
        tasks = Task.objects.bulk_create(
            [
                Task(round=round_, inspector=p, kind=TaskKind.INSTITUTIONS, region=community)
                for p in people
            ]
        )
        items = TaskItem.objects.bulk_create(
            [
                TaskItem(
                    round=round_,
                    task=tasks[(i + offset) % len(tasks)],
                    institution=inst,
                    position=i,
                )
                for i, inst in enumerate(places)
            ]
        )
        days = (end - start).days
        inspections: list[Inspection] = []
        # Per visit: stored answers, flags, team, submitted and approved times.
        answers: list[
            tuple[
                dict[str, Any],
                list[dict[str, Any]],
                list[User],
                datetime.datetime,
                datetime.datetime,
            ]
        ] = []
        for item in items:
            if rng.random() > VISIT_SHARE:
                continue
            visited = _at(
                start + datetime.timedelta(days=rng.randint(0, days)),
                rng.randint(9, 17),
                rng.choice((0, 15, 30, 45)),
            )
            flag = rng.choice(FLAGS) if rng.random() < FLAG_SHARE else None
            stored, flags = self.flagged_answers[flag[0]] if flag else (clean, [])
            inspector = item.task.inspector
            others = [p for p in people if p.pk != inspector.pk]
            team = [inspector, *rng.sample(others, min(len(others), rng.randint(0, 2)))]
            submitted = visited + datetime.timedelta(hours=1)
            approved = min(visited + datetime.timedelta(days=1), closed_at)
            inspections.append(
                Inspection(
                    client_id=uuid.UUID(int=rng.getrandbits(128)),
                    task=item.task,
                    item=item,
                    institution=item.institution,
                    region=item.institution.region,
                    checklist=checklist,
                    inspector=inspector,
                    status=InspectionStatus.APPROVED,
                    version=1,
                    outcome=VisitOutcome.VISITED,
                    visited_at=visited,
                    flag_count=len(flags),
                    submitted_at=submitted,
                    approved_at=approved,
                    approved_by=coordinator,
                )
            )
            answers.append((stored, flags, team, submitted, approved))
        Inspection.objects.bulk_create(inspections)
        versions = InspectionVersion.objects.bulk_create(
            [
                InspectionVersion(
                    inspection=i,
                    number=1,
                    submission_id=uuid.UUID(int=rng.getrandbits(128)),
                    answers=stored,
                    flags=flags,
                    outcome=VisitOutcome.VISITED,
                    participant_ids=[u.pk for u in team],
                    submitted_by=i.inspector,
                    submitted_at=submitted,
                )
                for i, (stored, flags, team, submitted, _) in zip(inspections, answers, strict=True)
            ]
        )
        reviews = InspectionReview.objects.bulk_create(
            [
                InspectionReview(
                    inspection=v.inspection,
                    version=v,
                    decision=ReviewDecision.APPROVED,
                    reviewer=coordinator,
                    decided_at=approved,
                )
                for v, (*_, approved) in zip(versions, answers, strict=True)
            ]
        )
        InspectionParticipant.objects.bulk_create(
            [
                InspectionParticipant(inspection=i, user=u, added_by=i.inspector)
                for i, (_, _, team, _, _) in zip(inspections, answers, strict=True)
                for u in team
            ]
        )
        for i, review, (_, flags, *_) in zip(inspections, reviews, answers, strict=True):
            base = {"institution": i.institution_id, "visited_at": _iso(i.visited_at)}
            self.log.add(
                "inspection.submitted",
                i,
                base | {"status": InspectionStatus.SUBMITTED, "version": 1, "flags": len(flags)},
                i.inspector,
            )
            self.log.add(
                "inspection.approved",
                i,
                base | {"status": InspectionStatus.APPROVED, "review": review.pk},
                coordinator,
            )
            if flags:
                self.flagged.append((i, flags))
        self.counts["inspections"] += len(inspections)

    # --- leads ----------------------------------------------------------------------------------

    def lead_plans(self) -> list[dict[str, Any]]:
        """What each lead is: when, where, from whom, about what (before any row is written)."""
        rng = self.rng
        communities = list(
            Region.objects.filter(
                level=Level.COMMUNITY, is_active=True, path__startswith=self._xiaonan_path()
            ).order_by("path")
        )
        places = [c for c in communities if bureau_for(c) is not None]
        plans: list[dict[str, Any]] = []
        for inspection, flags in self.flagged:
            codes = sorted({c for f in flags for c in f.get("violation_types", [])})
            plans.append(
                {
                    "created": inspection.approved_at,
                    "source": LeadSource.INSPECTION,
                    "region": inspection.region,
                    "institution": inspection.institution,
                    "codes": [c for c in codes if c in self.types] or ["A3"],
                    "description": "；".join(
                        f"{f.get('label', '')}：{f.get('answer', '')}。{f.get('note', '')}"
                        for f in flags
                    ),
                    "reporter": None,
                    "sentinel": None,
                    "inspection": inspection,
                }
            )
        disguised = sorted(c for c, t in self.types.items() if t.is_disguised)
        others = sorted(c for c, t in self.types.items() if not t.is_disguised)
        school = User.objects.filter(username="school").first()
        sentinel = Sentinel.objects.filter(name=SCHOOL_SENTINEL).first()
        for start, end in months_until(self.yesterday):
            for _ in range(LEADS_PER_MONTH):
                day = start + datetime.timedelta(days=rng.randint(0, (end - start).days))
                community = rng.choice(places)
                source = rng.choices(
                    [LeadSource.TIP, LeadSource.SCHOOL, LeadSource.BUREAU, LeadSource.REFERRAL],
                    weights=[5, 3, 2, 1],
                )[0]
                codes = [rng.choice(disguised if rng.random() < 0.55 else others)]
                if rng.random() < 0.3:
                    codes.append(rng.choice(others))
                institution = (
                    Institution.objects.filter(
                        Q(region=community) | Q(community=community), merged_into__isnull=True
                    )
                    .order_by("pk")
                    .first()
                    if rng.random() < 0.4
                    else None
                )
                plans.append(
                    {
                        "created": _at(day, rng.randint(8, 20), rng.randint(0, 59)),
                        "source": source,
                        "region": community,
                        "institution": institution,
                        "codes": sorted(set(codes)),
                        "description": rng.choice(WHAT),
                        "reporter": school if source == LeadSource.SCHOOL else None,
                        "sentinel": sentinel if source == LeadSource.SCHOOL else None,
                        "inspection": None,
                    }
                )
        plans.sort(key=lambda p: p["created"])
        return plans

    def _xiaonan_path(self) -> str:
        return Region.objects.get(code=data.XIAONAN).path

    def leads(self) -> list[Lead]:
        """Leads through the loop: most closed, the latest still open, a few merged or dismissed."""
        rng = self.rng
        plans = self.lead_plans()
        recent = _at(self.yesterday, 0) - datetime.timedelta(days=21)
        leads: list[Lead] = []
        fates: list[str] = []
        for n, plan in enumerate(plans):
            created: datetime.datetime = plan["created"]
            region: Region = plan["region"]
            institution: Institution | None = plan["institution"]
            roll = rng.random()
            if created > recent:
                fate = rng.choice(
                    [LeadStatus.DISPATCHED, LeadStatus.DISPATCHED, LeadStatus.REPLIED]
                )
            elif roll < 0.05 and leads:
                fate = LeadStatus.MERGED
            elif roll < 0.1:
                fate = LeadStatus.DISMISSED
            elif roll < 0.14:
                fate = LeadStatus.VERIFIED
            else:
                fate = LeadStatus.CLOSED
            fates.append(fate)
            area = (institution.area if institution else None) or region.community_areas.filter(
                is_active=True
            ).first()
            leads.append(
                Lead(
                    reference=f"T{uuid.UUID(int=rng.getrandbits(128)).hex[:18]}{n % 10}",
                    source=plan["source"],
                    status=fate,
                    description=plan["description"],
                    institution=institution,
                    place_name=(
                        institution.name
                        if institution
                        else f"{region.name}{rng.choice(PLACES)}{rng.randint(1, 30)}栋"
                    ),
                    address=f"孝感市孝南区{region.name}{rng.randint(1, 200)}号",
                    region=region,
                    area=area,
                    sentinel=plan["sentinel"],
                    reporter=plan["reporter"],
                    is_anonymous=plan["source"] == LeadSource.TIP and rng.random() < 0.5,
                    created_by=self.supervisor if plan["source"] == LeadSource.BUREAU else None,
                    is_synthetic=True,
                )
            )
        # Triage fields first: the table's constraints want a closed lead's reason at insert.
        routed = [
            self._route(lead, plan, fate, leads[:n])
            for n, (lead, plan, fate) in enumerate(zip(leads, plans, fates, strict=True))
        ]
        # Merged leads name their survivor, so they go in after the others.
        Lead.objects.bulk_create([lead for lead in leads if lead.merged_into is None])
        Lead.objects.bulk_create([lead for lead in leads if lead.merged_into is not None])
        for lead, plan in zip(leads, plans, strict=True):
            # The service's reference: XS, the local year, the id.
            lead.reference = f"XS{plan['created'].astimezone(LOCAL):%Y}{lead.pk:07d}"
            lead.created_at = plan["created"]
        Lead.objects.bulk_update(leads, ["reference", "created_at"])
        through = Lead.violation_types.through
        through.objects.bulk_create(
            [
                through(lead_id=lead.pk, violationtype_id=self.types[code].pk)
                for lead, plan in zip(leads, plans, strict=True)
                for code in plan["codes"]
            ]
        )
        flagged = [p["inspection"] for p in plans]
        for inspection, lead in zip(flagged, leads, strict=True):
            if inspection is not None:
                inspection.lead = lead
        Inspection.objects.bulk_update([i for i in flagged if i is not None], ["lead"])
        all_orders = [order for orders in routed for order in orders]
        WorkOrder.objects.bulk_create(all_orders)
        orders_of = {lead.pk: orders for lead, orders in zip(leads, routed, strict=True)}
        for lead in leads:
            self._lead_events(lead, orders_of[lead.pk])
        self.counts["leads"] += len(leads)
        self.counts["work_orders"] += len(all_orders)
        return leads

    def _route(
        self, lead: Lead, plan: dict[str, Any], fate: str, earlier: list[Lead]
    ) -> list[WorkOrder]:
        """Fill the lead's triage fields for its fate and return its (unsaved) work orders."""
        rng = self.rng
        created: datetime.datetime = plan["created"]
        bureau = bureau_for(lead.region)
        assert bureau is not None
        if fate == LeadStatus.MERGED:
            survivor = next((o for o in reversed(earlier) if o.status != LeadStatus.MERGED), None)
            if survivor is None:
                fate = lead.status = LeadStatus.DISMISSED
            else:
                lead.merged_into = survivor
                lead.closed_at = created + datetime.timedelta(hours=rng.randint(2, 30))
                return []
        if fate == LeadStatus.DISMISSED:
            lead.dismiss_reason = "经核实，反映的场所为正规备案的非学科类机构，未发现违规。"
            lead.closed_at = created + datetime.timedelta(hours=rng.randint(2, 30))
            return []
        accepted = created + datetime.timedelta(hours=rng.randint(1, 20))
        dispatched = accepted + datetime.timedelta(minutes=rng.randint(5, 90))
        lead.accepted_at, lead.dispatched_at = accepted, dispatched
        departments = _departments_by_kind(lead.region)
        types = [self.types[c] for c in plan["codes"]]
        types.sort(key=lambda t: (-t.severity, t.code))
        category = plan["institution"].category if plan["institution"] else ""
        lead_kind = resolve_kind(types[0].lead_kind, category)
        lead_dept = departments.get(lead_kind) or departments.get(DepartmentKind.EDUCATION, bureau)
        chosen: list[tuple[Department, str]] = [(lead_dept, OrderRole.LEAD)]
        for t in types:
            for kind in t.assisting_kinds:
                dept = departments.get(resolve_kind(kind, category))
                if dept is not None and all(dept.pk != d.pk for d, _ in chosen):
                    chosen.append((dept, OrderRole.ASSIST))
        chosen = chosen[:3]
        lead.routing = {
            "lead": lead_dept.pk,
            "assisting": [d.pk for d, _ in chosen[1:]],
            "synthetic": True,
        }
        group = min((t.group for t in types), key=lambda g: g.reply_days)
        sign_due = add_working_days(dispatched, group.sign_days)
        orders = []
        late_reply = False
        for dept, role in chosen:
            on_time = rng.random() < 0.88
            signed = (
                dispatched + datetime.timedelta(hours=rng.randint(1, 20))
                if on_time
                else sign_due + datetime.timedelta(hours=rng.randint(2, 40))
            )
            reply_due = add_working_days(signed, group.reply_days)
            replied = (
                signed + datetime.timedelta(days=rng.randint(1, 8))
                if rng.random() < 0.85
                else reply_due + datetime.timedelta(days=rng.randint(1, 5))
            )
            late_reply = late_reply or replied > reply_due
            status = OrderStatus.ACCEPTED
            if fate == LeadStatus.DISPATCHED:
                status = rng.choice([OrderStatus.AWAITING, OrderStatus.SIGNED])
            elif fate == LeadStatus.REPLIED:
                status = OrderStatus.REPLIED
            order = WorkOrder(
                lead=lead,
                department=dept,
                role=role,
                status=status,
                reason=", ".join(t.code for t in types),
                sign_due=sign_due,
                is_synthetic=True,
            )
            if status != OrderStatus.AWAITING:
                order.signed_at, order.signed_by = signed, None
                order.reply_due = reply_due
            if status in (OrderStatus.REPLIED, OrderStatus.ACCEPTED):
                order.replied_at = replied
                order.reply = rng.choice(REPLIES)
            if status == OrderStatus.ACCEPTED:
                order.accepted_at = replied + datetime.timedelta(hours=rng.randint(2, 48))
            orders.append(order)
        if fate in (LeadStatus.DISPATCHED, LeadStatus.REPLIED):
            lead.owner_department = lead_dept if fate == LeadStatus.DISPATCHED else bureau
            lead.due_at = max(o.reply_due or sign_due for o in orders)
        elif fate == LeadStatus.VERIFIED:
            lead.owner_department = bureau
            lead.due_at = add_working_days(max(o.accepted_at for o in orders if o.accepted_at), 3)
        else:
            lead.closed_at = max(
                o.accepted_at for o in orders if o.accepted_at
            ) + datetime.timedelta(hours=rng.randint(1, 30))
            substantiated = rng.random() < 0.85
            lead.closure_reason = (
                (ClosureReason.PENALISED if rng.random() < 0.5 else ClosureReason.RECTIFIED)
                if substantiated
                else ClosureReason.NOT_SUBSTANTIATED
            )
            lead.closure_note = "已责令整改并退费" if substantiated else "经核查未发现违规"
        return orders

    def _lead_events(self, lead: Lead, orders: list[WorkOrder]) -> None:
        """The events the services write along the lead's way, its status last."""
        sup = self.supervisor

        def lead_after(status: str, **extra: Any) -> dict[str, Any]:
            return {
                "status": status,
                "region": lead.region_id,
                "institution": lead.institution_id,
                "owner_department": lead.owner_department_id,
                "due_at": _iso(lead.due_at),
                **extra,
            }

        self.log.add("lead.created", lead, lead_after(LeadStatus.NEW, at=_iso(lead.created_at)))
        if lead.status == LeadStatus.MERGED:
            self.log.add("lead.merged", lead, lead_after(LeadStatus.MERGED), sup)
            return
        if lead.status == LeadStatus.DISMISSED:
            self.log.add("lead.dismissed", lead, lead_after(LeadStatus.DISMISSED), sup)
            return
        self.log.add("lead.accepted", lead, lead_after(LeadStatus.ACCEPTED), sup)
        self.log.add("lead.dispatched", lead, lead_after(LeadStatus.DISPATCHED), sup)
        for order in orders:
            after = {"lead": lead.pk, "department": order.department_id, "role": order.role}
            steps = [("work_order.created", OrderStatus.AWAITING)]
            if order.signed_at:
                steps.append(("work_order.signed", OrderStatus.SIGNED))
            if order.replied_at:
                steps.append(("work_order.replied", OrderStatus.REPLIED))
            if order.accepted_at:
                steps.append(("work_order.accepted", OrderStatus.ACCEPTED))
            for verb, status in steps:
                self.log.add(verb, order, after | {"status": status})
        if lead.status in (LeadStatus.REPLIED, LeadStatus.VERIFIED, LeadStatus.CLOSED):
            self.log.add("lead.progressed", lead, lead_after(LeadStatus.REPLIED))
        if lead.status in (LeadStatus.VERIFIED, LeadStatus.CLOSED):
            self.log.add("lead.progressed", lead, lead_after(LeadStatus.VERIFIED), sup)
        if lead.status == LeadStatus.CLOSED:
            self.log.add(
                "lead.closed",
                lead,
                lead_after(LeadStatus.CLOSED, closure_reason=lead.closure_reason),
                sup,
            )

    # --- cases, refunds, joint operations -------------------------------------------------------

    def cases(self, leads: Sequence[Lead]) -> None:
        """Concluded cases for substantiated closed leads, refunds verified for many of them."""
        rng = self.rng
        officer = User.objects.filter(username="xnjiaoyu").first()
        closed = [
            lead
            for lead in leads
            if lead.status == LeadStatus.CLOSED
            and lead.closure_reason != ClosureReason.NOT_SUBSTANTIATED
        ]
        disguised_leads = set(
            Lead.violation_types.through.objects.filter(
                lead_id__in=[lead.pk for lead in closed], violationtype__is_disguised=True
            ).values_list("lead_id", flat=True)
        )
        cases: list[Case] = []
        for lead in closed:
            assert lead.closed_at is not None
            disguised = lead.pk in disguised_leads
            penalised = lead.closure_reason == ClosureReason.PENALISED
            cases.append(
                Case(
                    lead=lead,
                    institution=lead.institution,
                    region=lead.region,
                    department_id=lead.routing.get("lead"),
                    status=CaseStatus.CONCLUDED,
                    rectification_order="责令立即停止违规培训，限期退还预收费用。",
                    rectification_due=(lead.closed_at + datetime.timedelta(days=15)).date(),
                    penalty_fen=rng.randint(5, 50) * 100_000 if penalised else None,
                    penalty_basis="《民办教育促进法》第六十二条" if penalised else "",
                    summary="已查处并整改到位。" if not disguised else "查处隐形变异学科类培训。",
                    is_disguised=disguised,
                    opened_by=self.supervisor,
                    concluded_at=lead.closed_at - datetime.timedelta(hours=1),
                )
            )
        Case.objects.bulk_create(cases)
        Case.objects.bulk_update(
            [self._opened(c) for c in cases], ["opened_at"]
        )  # opened when the lead was dispatched
        refunds: list[Refund] = []
        for case in cases:
            self.log.add("case.opened", case, {"status": CaseStatus.OPEN, "lead": case.lead_id})
            self.log.add(
                "case.concluded",
                case,
                {"status": CaseStatus.CONCLUDED, "is_disguised": case.is_disguised},
                self.supervisor,
            )
            if not case.is_disguised or rng.random() > 0.75:
                continue
            assert case.concluded_at is not None
            for _ in range(rng.randint(1, 2)):
                verified = case.concluded_at + datetime.timedelta(days=rng.randint(1, 20))
                if verified.date() > self.yesterday:
                    continue
                refunds.append(
                    Refund(
                        case=case,
                        amount_fen=rng.randint(30, 600) * 100 * 100,  # 3千–6万元
                        families=rng.randint(2, 30),
                        status=RefundStatus.VERIFIED,
                        note="已全额退还家长",
                        reported_by=officer,
                        verified_by=self.supervisor,
                        verified_at=verified,
                    )
                )
        Refund.objects.bulk_create(refunds)
        for refund in refunds:
            after = {"case": refund.case_id, "amount_fen": refund.amount_fen}
            self.log.add("refund.reported", refund, after | {"status": RefundStatus.REPORTED})
            self.log.add(
                "refund.verified",
                refund,
                after | {"status": RefundStatus.VERIFIED, "verified_at": _iso(refund.verified_at)},
                self.supervisor,
            )
        self.counts["cases"] += len(cases)
        self.counts["refunds"] += len(refunds)

    def _opened(self, case: Case) -> Case:
        lead = case.lead
        case.opened_at = lead.dispatched_at or lead.created_at
        return case

    def joint_operations(self, leads: Sequence[Lead]) -> None:
        """A recorded joint operation each quarter that has closed disguised-tutoring leads."""
        rng = self.rng
        officers = list(
            User.objects.filter(username__in=["xnjiaoyu", "xnmarket", "gongan", "market"])
            .prefetch_related("assignments__department")
            .order_by("username")
        )
        closed = [
            lead
            for lead in leads
            if lead.status == LeadStatus.CLOSED
            and lead.closure_reason == ClosureReason.PENALISED
            and lead.closed_at is not None
        ]
        quarters: dict[int, list[Lead]] = {}
        for lead in closed:
            assert lead.dispatched_at is not None
            quarters.setdefault((lead.dispatched_at.astimezone(LOCAL).month - 1) // 3, []).append(
                lead
            )
        for quarter, group in sorted(quarters.items()):
            chosen = group[:2]
            assert chosen[0].dispatched_at is not None
            day = (chosen[0].dispatched_at + datetime.timedelta(days=3)).astimezone(LOCAL).date()
            if day > self.yesterday:
                continue
            operation = JointOperation.objects.create(
                title=f"{day.year}年第{quarter + 1}季度校外培训联合执法检查",
                status=JointStatus.RECORDED,
                region=chosen[0].region,
                reasons=["several_departments"],
                planned_for=day,
                outcome="联合检查发现的违规培训已当场制止，责令退费并立案查处。",
                decided_by=self.supervisor,
                decided_at=_at(day, 9) - datetime.timedelta(days=2),
                recorded_at=_at(day, 18),
            )
            operation.leads.set(chosen)
            team: list[JointParticipant] = [
                JointParticipant(
                    operation=operation,
                    user=self.supervisor,
                    name=self.supervisor.display_name or self.supervisor.username,
                    department=bureau_for(chosen[0].region),
                )
            ]
            for officer in rng.sample(officers, min(len(officers), 3)):
                dept = next(
                    (a.department for a in officer.assignments.all() if a.department_id), None
                )
                team.append(
                    JointParticipant(
                        operation=operation,
                        user=officer,
                        name=officer.display_name or officer.username,
                        department=dept,
                    )
                )
            JointParticipant.objects.bulk_create(team)
            operation.departments.set({p.department for p in team if p.department is not None})
            for verb, status in (
                ("joint.proposed", JointStatus.PROPOSED),
                ("joint.confirmed", JointStatus.CONFIRMED),
                ("joint.recorded", JointStatus.RECORDED),
            ):
                self.log.add(verb, operation, {"status": status, "planned_for": day.isoformat()})
            self.counts["joint_operations"] += 1

    def write_log(self) -> None:
        """Write the collected events in order."""
        events_bulk_record(self.log.rows)


def already_loaded(year: int) -> bool:
    """Whether this year's history is there: its closed rounds are the marker."""
    return Round.objects.filter(
        name__endswith=MARK, starts_on__year=year, status=RoundStatus.CLOSED
    ).exists()


@transaction.atomic
def load_demo_history(today: datetime.date | None = None) -> dict[str, int]:
    """Write the demo city's year so far (1 January → yesterday) unless it is there; counts made."""
    today = today or timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    history = _History(yesterday)
    if yesterday.year != today.year or already_loaded(today.year):
        return history.counts
    checklist = (
        ChecklistVersion.objects.filter(
            template__code=CHECKLIST_TEMPLATE, status=VersionStatus.PUBLISHED
        )
        .order_by("-number")
        .first()
    )
    if checklist is None or not Region.objects.filter(code=data.XIAONAN).exists():
        return history.counts
    history.rounds(checklist)
    leads = history.leads()
    history.cases(leads)
    history.joint_operations(leads)
    history.write_log()
    return history.counts
