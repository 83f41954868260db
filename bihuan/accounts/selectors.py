"""Scoped reads of departments, users and assignments."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet

from bihuan.accounts.models import Assignment, Department, Role, User
from bihuan.accounts.scope import scope_of
from bihuan.territory.codes import ancestor_paths
from bihuan.territory.models import Region

_ALL_USERS = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN})
# Roles that see the people working in their place (a coordinator keeps the list of inspectors).
_PEOPLE_OF_PLACE = frozenset({Role.SUPERVISOR, Role.COORDINATOR})


def departments_visible_to(user: object) -> QuerySet[Department]:
    """Departments whose jurisdiction covers or lies within the user's place, and their own."""
    scope = scope_of(user)
    if scope.roles & _ALL_USERS:
        return Department.objects.select_related("jurisdiction")
    covering = Q(jurisdiction__path__in=scope.ancestor_paths())
    return Department.objects.filter(
        covering | scope.region_q("jurisdiction") | Q(pk__in=scope.department_ids)
    ).select_related("jurisdiction")


def users_visible_to(user: object) -> QuerySet[User]:
    """Administrators see every account; supervisors and coordinators the people of their place."""
    scope = scope_of(user)
    if scope.roles & _ALL_USERS:
        return User.objects.all()
    own = Q(pk=getattr(user, "pk", None))
    if not scope.roles & _PEOPLE_OF_PLACE:
        return User.objects.filter(own)
    in_place = Assignment.objects.filter(
        scope.region_q("region", roles=_PEOPLE_OF_PLACE),
        user=OuterRef("pk"),
        is_active=True,
    ).exclude(role__in=[Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN])
    return User.objects.filter(own | Q(Exists(in_place)))


def assignments_of(user: User) -> QuerySet[Assignment]:
    """A user's active assignments, with everything a page shows about them."""
    return (
        Assignment.objects.filter(user=user, is_active=True)
        .select_related("region", "department", "sentinel", "area")
        .order_by("role", "region__path")
    )


def people_over(region: Region, roles: Iterable[str]) -> QuerySet[User]:
    """Active people holding one of ``roles`` at the region or at any place above it.

    Who is told about something that happens in a place: its supervisors, its coordinators.
    """
    return User.objects.filter(
        is_active=True,
        assignments__is_active=True,
        assignments__role__in=sorted(roles),
        assignments__region__path__in=ancestor_paths(region.path),
    ).distinct()
