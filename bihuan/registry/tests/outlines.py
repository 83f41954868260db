"""Outlines and positions shared by the placement, boundary and map tests.

Squares in Xiaogan's urban area, in WGS-84: 文昌社区 west of longitude 113.92, 槐荫社区 east of it,
sharing that meridian as their border; 乾坤社区 a little further south.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from bihuan.registry.models import Boundary, Institution, Source
from bihuan.registry.services import institution_create
from bihuan.territory.models import Region

LAT_S, LAT_N = 30.92, 30.94
WEST, BORDER, EAST = 113.90, 113.92, 113.94


def square(west: float, south: float, east: float, north: float) -> list[list[list[float]]]:
    """Polygon coordinates ([lng, lat], closed, counter-clockwise) of a box."""
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


WENCHANG_SQUARE = square(WEST, LAT_S, BORDER, LAT_N)
HUAIYIN_SQUARE = square(BORDER, LAT_S, EAST, LAT_N)
QIANKUN_SQUARE = square(WEST, 30.90, EAST, 30.915)


def outline(region: Region, geometry: dict[str, Any]) -> Boundary:
    """Store an outline directly (test set-up; imports go through ``boundaries_import``)."""
    from shapely.geometry import shape

    min_lng, min_lat, max_lng, max_lat = shape(geometry).bounds
    return Boundary.objects.create(
        region=region,
        geometry=geometry,
        min_lat=min_lat,
        max_lat=max_lat,
        min_lng=min_lng,
        max_lng=max_lng,
    )


def polygon(coordinates: list[list[list[float]]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": coordinates}


def feature(
    code: Any, geometry: dict[str, Any] | None, key: str = "code", **properties: Any
) -> dict[str, Any]:
    return {"type": "Feature", "properties": {key: code, **properties}, "geometry": geometry}


def collection(*features: dict[str, Any], encoding: str = "utf-8", **members: Any) -> bytes:
    body = {"type": "FeatureCollection", **members, "features": list(features)}
    return json.dumps(body, ensure_ascii=False).encode(encoding)


def institution_at(
    name: str,
    region: Region,
    lat: float | None = None,
    lng: float | None = None,
    *,
    datum: str = "wgs84",
    **fields: Any,
) -> Institution:
    """An institution created through the service (placed on creation)."""
    return institution_create(
        actor=None,
        name=name,
        region=region,
        source=Source.MANUAL,
        latitude=None if lat is None else Decimal(f"{lat:.6f}"),
        longitude=None if lng is None else Decimal(f"{lng:.6f}"),
        datum=datum if lat is not None else "",
        **fields,
    )
