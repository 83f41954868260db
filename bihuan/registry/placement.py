"""Placing institutions in their community and area.

By position first (point in the community's GeoJSON outline, shapely), else by the division code
the record came with, else by a community name found in the address within the record's region.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shapely.geometry import Point, shape
from shapely.prepared import PreparedGeometry, prep

from bihuan.registry.models import Boundary, Institution
from bihuan.territory.models import Level, Region


@lru_cache(maxsize=4096)
def _prepared(boundary_id: int, updated_at: str) -> PreparedGeometry:
    # Keyed by update time too, so an edited outline is never served from the cache.
    geometry: Any = Boundary.objects.values_list("geometry", flat=True).get(pk=boundary_id)
    return prep(shape(geometry))


def community_at(lat: float, lng: float) -> Region | None:
    """The community whose outline contains the point (WGS-84), if any."""
    candidates = (
        Boundary.objects.filter(
            min_lat__lte=lat, max_lat__gte=lat, min_lng__lte=lng, max_lng__gte=lng
        )
        .select_related("region")
        .order_by("region__code")
    )
    point = Point(lng, lat)
    for boundary in candidates:
        # covers, not contains: a point on a shared border belongs to the community with the
        # lower code, always the same one, instead of to neither.
        if _prepared(boundary.pk, boundary.updated_at.isoformat()).covers(point):
            return boundary.region
    return None


def community_in_address(address: str, within: Region) -> Region | None:
    """A community of ``within``'s subtree whose name appears in the address (longest wins)."""
    if not address:
        return None
    communities = Region.objects.filter(
        within.subtree_q(), level=Level.COMMUNITY, is_active=True
    ).values_list("pk", "name")
    found = [(len(name), pk) for pk, name in communities if name and name in address]
    if not found:
        return None
    return Region.objects.get(pk=max(found)[1])


def resolve_community(institution: Institution) -> Region | None:
    """Where the institution belongs by position, code or address (None if undecidable)."""
    if institution.latitude is not None and institution.longitude is not None:
        found = community_at(float(institution.latitude), float(institution.longitude))
        if found is not None:
            return found
    region = institution.region
    if region.level == Level.COMMUNITY:
        return region
    return community_in_address(institution.address, region)


def place_institution(institution: Institution) -> bool:
    """Set community, area and region from ``resolve_community``; True if anything changed.

    Called inside the service that created or moved the institution, whose event records it.
    """
    community = resolve_community(institution)
    if community is None:
        return False
    area = community.community_areas.filter(is_active=True).first()
    changed = (
        institution.community_id != community.pk
        or institution.area_id != (area.pk if area else None)
        or institution.region_id != community.pk
    )
    if changed:
        institution.community = community
        institution.region = community
        institution.area = area
        institution.save(update_fields=["community", "region", "area", "updated_at"])
    return changed
