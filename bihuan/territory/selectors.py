"""Scoped reads of the territory: every page and API gets regions, areas and sentinels from here."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from bihuan.accounts.models import Role
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.territory.models import Area, AreaResponsible, Region, RegionImport, Sentinel

# Administrators who configure the territory or grant roles in it see all of it.
_WHOLE_TERRITORY = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN})


def regions_visible_to(user: object) -> QuerySet[Region]:
    """Regions in the subtrees of the user's assignments."""
    scope = scope_of(user)
    if scope.roles & _WHOLE_TERRITORY:
        return Region.objects.all()
    return Region.objects.filter(scope.region_q())


def areas_visible_to(user: object) -> QuerySet[Area]:
    """Areas lying in the user's scope or covering one of its communities."""
    scope = scope_of(user)
    if scope.roles & _WHOLE_TERRITORY:
        return Area.objects.select_related("region")
    in_scope = scope.region_q("region")
    covering = Q(
        pk__in=Area.communities.through.objects.filter(scope.region_q("region")).values("area_id")
    )
    return Area.objects.filter(in_scope | covering | Q(pk__in=scope.area_ids)).select_related(
        "region"
    )


def sentinels_visible_to(user: object) -> QuerySet[Sentinel]:
    """Sentinels in the user's scope."""
    scope = scope_of(user)
    if scope.roles & _WHOLE_TERRITORY:
        return Sentinel.objects.select_related("region", "area")
    return Sentinel.objects.filter(
        scope.region_q("region") | Q(pk__in=scope.sentinel_ids)
    ).select_related("region", "area")


def region_children(user: object, region: Region | None) -> QuerySet[Region]:
    """The visible children of a region (or the visible tops of the tree), with child counts."""
    visible = regions_visible_to(user)
    # Without a region: the tops, i.e. the visible regions whose parent is not visible.
    rows = visible.exclude(parent__in=visible) if region is None else visible.filter(parent=region)
    return rows.annotate(child_count=Count("children")).order_by("code")


def area_responsibles(area: Area) -> QuerySet[AreaResponsible]:
    """The active named responsible parties of an area."""
    return area.responsibles.filter(is_active=True).select_related("kind", "user")


def region_imports_visible_to(user: object) -> QuerySet[RegionImport]:
    """A territory administrator's own imports (the files may hold unpublished changes)."""
    if not can(user, Capability.TERRITORY_MANAGE):
        return RegionImport.objects.none()
    return RegionImport.objects.filter(uploaded_by_id=getattr(user, "pk", None))
