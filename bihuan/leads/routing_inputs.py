"""Database rows → the plain values ``routing.route`` takes, for one place, in two queries."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q

from bihuan.accounts.models import Department
from bihuan.leads.models import RoutingRule, ViolationType
from bihuan.leads.routing import DepartmentSpec, RuleSpec, TypeSpec
from bihuan.territory.codes import ancestor_paths
from bihuan.territory.models import Region


def type_spec(violation_type: ViolationType) -> TypeSpec:
    """The taxonomy defaults of one type."""
    return TypeSpec(
        code=violation_type.code,
        lead_kind=violation_type.lead_kind,
        assisting_kinds=tuple(violation_type.assisting_kinds or ()),
        severity=int(violation_type.severity),
    )


def routing_inputs(
    types: Sequence[ViolationType], region: Region
) -> tuple[list[TypeSpec], list[RuleSpec], list[DepartmentSpec]]:
    """The types, the active rules that may apply at ``region``, and the departments covering it.

    Only rows that can matter at this place are read (rules for everywhere or for a region above
    or at it; active departments whose jurisdiction holds it), so the cost does not grow with the
    size of the province.
    """
    above = ancestor_paths(region.path)
    type_specs = [type_spec(t) for t in types]
    rules = (
        RoutingRule.objects.filter(is_active=True, violation_type__in=[t.pk for t in types])
        .filter(Q(region__isnull=True) | Q(region__path__in=above))
        .values_list(
            "pk", "violation_type__code", "category", "region__path", "lead_kind", "assisting_kinds"
        )
        .order_by("pk")
    )
    rule_specs = [
        RuleSpec(
            rule_id=pk,
            type_code=code,
            category=category or "",
            region_path=path or "",
            lead_kind=lead,
            assisting_kinds=tuple(assisting or ()),
        )
        for pk, code, category, path, lead, assisting in (rules if types else [])
    ]
    departments = (
        Department.objects.filter(is_active=True, jurisdiction__path__in=above)
        .values_list("pk", "kind", "jurisdiction__path")
        .order_by("pk")
    )
    department_specs = [
        DepartmentSpec(department_id=pk, kind=kind, jurisdiction_path=path)
        for pk, kind, path in departments
    ]
    return type_specs, rule_specs, department_specs
