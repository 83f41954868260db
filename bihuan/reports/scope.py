"""Which slices of the figures a user may read: a region (and below), an area, or a department.

A supervisor or coordinator reads the figures of their places and of any region below them; an
area's responsible party reads their area; a department officer reads their department. Anything
else is a 404, as everywhere else in Bihuan. Every figure, chart, health table and report takes a
``FigureScope`` and never looks at the user again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.http import Http404

from bihuan.accounts.models import Department, Role
from bihuan.accounts.scope import scope_of
from bihuan.territory.models import Area, Region

Kind = Literal["region", "area", "department"]
_BY_PLACE = frozenset({Role.SUPERVISOR, Role.COORDINATOR})


@dataclass(frozen=True)
class FigureScope:
    """One slice of the figures: kind and id, with what to call it and, for a region, its path."""

    kind: Kind
    id: int
    label: str
    path: str = ""  # a region's tree path ("" for areas and departments)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def _region_scope(region: Region) -> FigureScope:
    return FigureScope("region", region.pk, region.name, region.path)


def scopes_of(user: object) -> list[FigureScope]:
    """The user's own slices, widest first: their places, then their areas, then departments."""
    scope = scope_of(user)
    result: list[FigureScope] = []
    paths = [p for role in _BY_PLACE for p in scope.paths_by_role.get(role, ())]
    if paths:
        regions = Region.objects.filter(path__in=paths).order_by("depth", "code")
        result += [_region_scope(r) for r in regions]
    if scope.has(Role.AREA_RESPONSIBLE) and scope.area_ids:
        areas = Area.objects.filter(pk__in=scope.area_ids).order_by("name")
        result += [FigureScope("area", a.pk, a.name) for a in areas]
    if scope.has(Role.OFFICER) and scope.department_ids:
        departments = Department.objects.filter(pk__in=scope.department_ids).order_by("name")
        result += [FigureScope("department", d.pk, d.short_name or d.name) for d in departments]
    return result


def default_scope(user: object) -> FigureScope:
    """The widest slice the user may read; 404 for users who may read none."""
    scopes = scopes_of(user)
    if not scopes:
        raise Http404
    return scopes[0]


def resolve_scope(user: object, kind: str | None, pk: str | int | None) -> FigureScope:
    """The slice a request asks for (``?scope=region:12``), if the user may read it; else 404.

    Without a request the user's default slice is used. A region below one of the user's places
    is allowed (a district supervisor drills into a street).
    """
    if not kind:
        return default_scope(user)
    try:
        pk = int(pk or 0)
    except (TypeError, ValueError):
        raise Http404 from None
    own = scopes_of(user)
    if kind == "region":
        region = Region.objects.filter(pk=pk).first()
        if region is None:
            raise Http404
        if any(s.kind == "region" and region.path.startswith(s.path) for s in own):
            return _region_scope(region)
        raise Http404
    for candidate in own:
        if candidate.kind == kind and candidate.id == pk:
            return candidate
    raise Http404


def parse_scope_key(user: object, key: str | None) -> FigureScope:
    """``resolve_scope`` from one ``kind:id`` string as links carry it."""
    if not key:
        return default_scope(user)
    kind, _, pk = key.partition(":")
    return resolve_scope(user, kind, pk)
