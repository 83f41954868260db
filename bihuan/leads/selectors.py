"""Scoped reads of leads, work orders, joint operations and the taxonomy."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from bihuan.accounts.models import Department, DepartmentKind, Role, User
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.leads.models import (
    ExtensionRequest,
    JointOperation,
    Lead,
    RoutingRule,
    ViolationGroup,
    ViolationType,
    WorkOrder,
)
from bihuan.territory.codes import ancestor_paths
from bihuan.territory.models import Region

_BY_PLACE = frozenset({Role.SUPERVISOR, Role.COORDINATOR})
_BUREAU = frozenset({Role.SUPERVISOR})


def leads_visible_to(user: object) -> QuerySet[Lead]:
    """Leads in the user's places, of their department's orders, in their areas, or their own."""
    scope = scope_of(user)
    q = Q(pk__in=[])
    if scope.roles & _BY_PLACE:
        q |= scope.region_q("region", roles=_BY_PLACE)
    if scope.has(Role.AREA_RESPONSIBLE) and scope.area_ids:
        q |= Q(area_id__in=scope.area_ids)
    if scope.has(Role.OFFICER) and scope.department_ids:
        orders = WorkOrder.objects.filter(department_id__in=scope.department_ids)
        q |= Q(pk__in=orders.values("lead_id")) & scope.region_q(
            "region", roles=frozenset({Role.OFFICER})
        )
    if getattr(user, "is_authenticated", False) and scope.roles:
        q |= Q(reporter_id=getattr(user, "pk", None))
    return Lead.objects.filter(q)


def leads_triaged_by(user: object) -> QuerySet[Lead]:
    """Leads the user may triage, dispatch, verify and close: a supervisor's places."""
    scope = scope_of(user)
    if not scope.has(Role.SUPERVISOR):
        return Lead.objects.none()
    return Lead.objects.filter(scope.region_q("region", roles=_BUREAU))


def may_triage(user: object, lead: Lead) -> bool:
    """Is the lead inside one of the user's supervisor places?"""
    return leads_triaged_by(user).filter(pk=lead.pk).exists()


def may_see_reporter(user: object, lead: Lead) -> bool:
    """Only the bureau sees who reported; a department never does, nor does anyone for anonymity."""
    if lead.is_anonymous:
        return False
    return may_triage(user, lead) or (
        lead.reporter_id is not None and lead.reporter_id == getattr(user, "pk", None)
    )


def work_orders_visible_to(user: object) -> QuerySet[WorkOrder]:
    """A department's orders for its officers; the orders of the bureau's leads for supervisors."""
    scope = scope_of(user)
    q = Q(pk__in=[])
    if scope.has(Role.SUPERVISOR):
        q |= scope.region_q("lead__region", roles=_BUREAU)
    if scope.has(Role.OFFICER) and scope.department_ids:
        q |= Q(department_id__in=scope.department_ids) & scope.region_q(
            "lead__region", roles=frozenset({Role.OFFICER})
        )
    return WorkOrder.objects.filter(q)


def work_orders_handled_by(user: object) -> QuerySet[WorkOrder]:
    """Orders the user may sign, reply to, return or ask more time for: their department's."""
    scope = scope_of(user)
    if not scope.has(Role.OFFICER) or not scope.department_ids:
        return WorkOrder.objects.none()
    return WorkOrder.objects.filter(
        Q(department_id__in=scope.department_ids)
        & scope.region_q("lead__region", roles=frozenset({Role.OFFICER}))
    )


def extensions_visible_to(user: object) -> QuerySet[ExtensionRequest]:
    """Extension requests on orders the user may see."""
    return ExtensionRequest.objects.filter(work_order__in=work_orders_visible_to(user))


def joint_operations_visible_to(user: object) -> QuerySet[JointOperation]:
    """Joint operations in a supervisor's places, or with the officer's department on them."""
    scope = scope_of(user)
    q = Q(pk__in=[])
    if scope.has(Role.SUPERVISOR):
        q |= scope.region_q("region", roles=_BUREAU)
    if scope.has(Role.OFFICER) and scope.department_ids:
        q |= Q(departments__in=scope.department_ids)
    if scope.has(Role.AREA_RESPONSIBLE) and scope.area_ids:
        q |= Q(leads__area_id__in=scope.area_ids)
    return JointOperation.objects.filter(q).distinct()


def bureau_for(region: Region) -> Department | None:
    """The education bureau nearest above the region: who owns a lead there between dispatches."""
    paths = ancestor_paths(region.path)
    return (
        Department.objects.filter(
            kind=DepartmentKind.EDUCATION, is_active=True, jurisdiction__path__in=paths
        )
        .order_by("-jurisdiction__depth")
        .first()
    )


def departments_covering(region: Region) -> QuerySet[Department]:
    """Active departments whose jurisdiction contains the region (candidates for a reassignment)."""
    return Department.objects.filter(
        is_active=True, jurisdiction__path__in=ancestor_paths(region.path)
    ).select_related("jurisdiction")


def violation_types_active() -> QuerySet[ViolationType]:
    """The taxonomy as offered when classifying (the whole table is public to signed-in staff)."""
    return ViolationType.objects.filter(is_active=True).select_related("group")


def violation_groups() -> QuerySet[ViolationGroup]:
    return ViolationGroup.objects.all()


def routing_rules_active() -> QuerySet[RoutingRule]:
    return RoutingRule.objects.filter(is_active=True).select_related("violation_type", "region")


def lead_by_reference(user: object, reference: str) -> Lead | None:
    """The lead with this reference among those the user may see (for a merge), or None."""
    return leads_visible_to(user).filter(reference=(reference or "").strip().upper()).first()


def joint_decidable_by(user: object, operation: JointOperation) -> bool:
    """May the user confirm, decline or record this joint operation (the bureau of its place)?"""
    if not can(user, Capability.LEAD_TRIAGE):
        return False
    scope = scope_of(user)
    return (
        Region.objects.filter(pk=operation.region_id)
        .filter(scope.region_q(roles=frozenset({Role.SUPERVISOR})))
        .exists()
    )


def joint_team_candidates(operation: JointOperation) -> QuerySet[User]:
    """Officers of the departments covering the place, and the supervisors above it."""
    above = [
        "/".join(operation.region.path.split("/")[:i]) + "/"
        for i in range(1, len([p for p in operation.region.path.split("/") if p]) + 1)
    ]
    covering = departments_covering(operation.region)
    return (
        User.objects.filter(is_active=True, assignments__is_active=True)
        .filter(
            Q(assignments__role=Role.OFFICER, assignments__department__in=covering)
            | Q(assignments__role=Role.SUPERVISOR, assignments__region__path__in=above)
        )
        .distinct()
        .order_by("username")
    )
