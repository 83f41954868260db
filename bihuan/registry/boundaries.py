"""Import of community outlines from GeoJSON, and the bulk re-placement of institutions it causes.

A file is checked whole before anything is written: one bad feature refuses the file, with a
per-feature list of errors. Geometry is read and validated with shapely; an invalid outline that
``make_valid`` turns into a polygonal shape is accepted and the repair is reported, one that it
cannot (a ring with no area, a line) is refused.

Size: files up to ``settings.IMPORT_MAX_BYTES``. The check always runs in the request; the writes
run in the request when at most ``SYNC_MAX_FEATURES`` outlines and ``SYNC_MAX_INSTITUTIONS``
institutions are concerned, otherwise in the task worker (``tasks_boundaries``). Either way the
outlines and the re-placement are written in one transaction: all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from shapely import make_valid
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.geo import gcj02_to_wgs84
from bihuan.registry.models import Boundary, BoundaryImport, Datum, Institution
from bihuan.registry.placement import place_institution
from bihuan.territory.models import ImportStatus, Level, Region
from bihuan.territory.selectors import regions_visible_to

CODE_KEYS = ("code", "区划代码", "adcode")
SYNC_MAX_FEATURES = 300
SYNC_MAX_INSTITUTIONS = 2000
MAX_ERRORS_SHOWN = 200
# Institutions locked and re-placed per query; also keeps "IN (...)" under SQLite's limits.
_CHUNK = 500
# About a square metre, in square degrees: anything smaller is a line drawn as a polygon.
_MIN_AREA = 1e-10
# Stored coordinates have six decimals: widen boxes by more than that rounding.
_PAD = 1e-5
_PLACEMENT_FIELDS = ["region", "community", "area"]


class BoundaryFileError(ServiceError):
    """A refused boundary file, with one message per bad feature."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message, field="file")
        self.errors = errors or []


@dataclass
class CheckedFeature:
    """A feature that passed the check: its community and its outline in WGS-84."""

    number: int
    region: Region
    geometry: BaseGeometry
    repaired: str = ""


@dataclass
class CheckedFile:
    encoding: str
    datum: str
    features: list[CheckedFeature] = field(default_factory=list)


def require_territory_manage(actor: Any) -> None:
    """Boundaries are territory configuration: the system administrator's."""
    if not can(actor, Capability.TERRITORY_MANAGE):
        raise NotAllowed(_("Your roles do not allow this change."))


def boundary_imports_visible_to(user: object) -> QuerySet[BoundaryImport]:
    """Every boundary import, for territory administrators (outlines are shared configuration)."""
    if not can(user, Capability.TERRITORY_MANAGE):
        return BoundaryImport.objects.none()
    return BoundaryImport.objects.select_related("uploaded_by")


# Reading and checking ---------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str]:
    """The text of the file and its encoding: UTF-8 (with or without BOM), else GBK."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        # GB18030 is the superset of GBK that Chinese Windows writes; it reads GBK files exactly.
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError:
        raise BoundaryFileError(_("The file is neither UTF-8 nor GBK text.")) from None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(_("a coordinate is not a number"))
    return float(value)


def _position(value: Any, datum: str) -> list[float]:
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError(_("a position is not a pair of numbers"))
    lng, lat = _number(value[0]), _number(value[1])
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise ValueError(
            _("position [%(lng)s, %(lat)s] is out of range (longitude first, then latitude)")
            % {"lng": value[0], "lat": value[1]}
        )
    if datum == Datum.GCJ02:
        lat, lng = gcj02_to_wgs84(lat, lng)
    return [lng, lat]


def _rings(value: Any, datum: str) -> list[list[list[float]]]:
    if not isinstance(value, list) or not value:
        raise ValueError(_("a polygon has no rings"))
    rings = []
    for ring in value:
        if not isinstance(ring, list):
            raise ValueError(_("a ring is not a list of positions"))
        if len(ring) < 4:
            raise ValueError(_("a ring needs at least four positions"))
        positions = [_position(p, datum) for p in ring]
        if positions[0] != positions[-1]:
            raise ValueError(_("a ring is not closed (its first and last positions differ)"))
        rings.append(positions)
    return rings


def _coordinates(kind: str, value: Any, datum: str) -> Any:
    """The coordinates of a Polygon or MultiPolygon, checked and converted to WGS-84."""
    if kind == "Polygon":
        return _rings(value, datum)
    if not isinstance(value, list) or not value:
        raise ValueError(_("a multipolygon has no polygons"))
    return [_rings(polygon, datum) for polygon in value]


def _outline(raw: Any, datum: str) -> tuple[BaseGeometry, str]:
    """A valid polygonal shapely geometry, and why it had to be repaired (empty if it did not)."""
    if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
        kind = raw.get("type") if isinstance(raw, dict) else None
        raise ValueError(
            _("the geometry must be a Polygon or MultiPolygon, not %(t)s") % {"t": kind or "—"}
        )
    coordinates = _coordinates(raw["type"], raw.get("coordinates"), datum)
    try:
        geometry = shape({"type": raw["type"], "coordinates": coordinates})
    except (ValueError, TypeError, IndexError, GEOSException) as exc:
        raise ValueError(_("the outline cannot be read (%(e)s)") % {"e": exc}) from None
    reason = ""
    if not geometry.is_valid:
        reason = explain_validity(geometry)
        repaired = _polygonal_part(make_valid(geometry))
        if repaired is None or repaired.is_empty:
            raise ValueError(
                _("the outline is invalid (%(why)s) and cannot be repaired") % {"why": reason}
            )
        geometry = repaired
    if geometry.is_empty or geometry.area < _MIN_AREA:
        raise ValueError(_("the outline encloses no area"))
    return geometry, reason


def _polygonal_part(geometry: BaseGeometry) -> BaseGeometry | None:
    if isinstance(geometry, Polygon | MultiPolygon):
        return geometry
    parts: list[Polygon] = []
    for part in getattr(geometry, "geoms", ()):
        if isinstance(part, Polygon):
            parts.append(part)
        elif isinstance(part, MultiPolygon):
            parts.extend(part.geoms)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _code_of(properties: Any) -> str:
    if not isinstance(properties, dict):
        return ""
    for key in CODE_KEYS:
        value = properties.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _datum_of(requested: str, collection: dict[str, Any]) -> str:
    """The request's datum if given, else the file's ``datum`` member, else WGS-84."""
    value = (requested or str(collection.get("datum") or "")).strip().lower().replace("-", "")
    if not value:
        return Datum.WGS84
    if value not in Datum.values:
        raise BoundaryFileError(
            _("Unknown datum “%(d)s”: use wgs84 or gcj02.") % {"d": requested or value}
        )
    return value


def check_file(*, actor: Any, data: bytes, datum: str = "") -> CheckedFile:
    """Read and check every feature; raises BoundaryFileError listing every bad one."""
    if len(data) > settings.IMPORT_MAX_BYTES:
        raise BoundaryFileError(
            _("The file is larger than %(mb)d MB.")
            % {"mb": settings.IMPORT_MAX_BYTES // (1024 * 1024)}
        )
    text, encoding = decode(data)
    try:
        collection = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoundaryFileError(
            _("The file is not valid JSON (line %(line)d: %(msg)s).")
            % {"line": exc.lineno, "msg": exc.msg}
        ) from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise BoundaryFileError(_("The file must hold a GeoJSON FeatureCollection."))
    raw_features = collection.get("features")
    if not isinstance(raw_features, list) or not raw_features:
        raise BoundaryFileError(_("The FeatureCollection has no features."))
    checked = CheckedFile(encoding=encoding, datum=_datum_of(datum, collection))

    codes = [_code_of(f.get("properties")) if isinstance(f, dict) else "" for f in raw_features]
    known = {r.code: r for r in Region.objects.filter(code__in=[c for c in codes if c])}
    manageable = set(
        regions_visible_to(actor)
        .filter(code__in=list(known), level=Level.COMMUNITY, is_active=True)
        .values_list("code", flat=True)
    )
    errors: list[str] = []
    seen: set[str] = set()
    for number, (raw, code) in enumerate(zip(raw_features, codes, strict=True), start=1):
        label = f"{number} ({code})" if code else str(number)
        problem = _feature_problem(raw, code, known, manageable, seen)
        if problem is None:
            try:
                geometry, repaired = _outline(raw.get("geometry"), checked.datum)
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            errors.append(_("Feature %(n)s: %(problem)s.") % {"n": label, "problem": problem})
            continue
        seen.add(code)
        checked.features.append(CheckedFeature(number, known[code], geometry, repaired))
    if errors:
        raise BoundaryFileError(_boundary_summary(len(errors)), _shown(errors))
    return checked


def _feature_problem(
    raw: Any, code: str, known: dict[str, Region], manageable: set[str], seen: set[str]
) -> str | None:
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        return _("not a GeoJSON Feature")
    if not code:
        return _("no division code (property code, 区划代码 or adcode)")
    region = known.get(code)
    if region is None:
        return _("no region has the code %(c)s") % {"c": code}
    if region.level != Level.COMMUNITY:
        return _("%(name)s is a %(level)s, not a community") % {
            "name": region.name,
            "level": region.get_level_display(),
        }
    if code not in manageable:
        return _("%(name)s is not an active community you may manage") % {"name": region.name}
    if code in seen:
        return _("the code %(c)s appears twice in the file") % {"c": code}
    return None


def _boundary_summary(count: int) -> str:
    return ngettext(
        "The file was refused, nothing was changed: %(n)d feature has an error.",
        "The file was refused, nothing was changed: %(n)d features have errors.",
        count,
    ) % {"n": count}


def _shown(errors: list[str]) -> list[str]:
    if len(errors) <= MAX_ERRORS_SHOWN:
        return errors
    more = len(errors) - MAX_ERRORS_SHOWN
    return [*errors[:MAX_ERRORS_SHOWN], _("… and %(n)d more.") % {"n": more}]


# Writing ----------------------------------------------------------------------------------------


def _bbox(geometry: BaseGeometry) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) of a geometry."""
    min_lng, min_lat, max_lng, max_lat = geometry.bounds
    return min_lat, max_lat, min_lng, max_lng


def _boundary_bbox(boundary: Boundary) -> tuple[float, float, float, float]:
    return boundary.min_lat, boundary.max_lat, boundary.min_lng, boundary.max_lng


def _as_json(geometry: BaseGeometry) -> dict[str, Any]:
    # Through JSON so tuples become lists: the stored value compares equal to what is read back.
    return json.loads(json.dumps(mapping(geometry)))


def _summary(geometry_json: dict[str, Any], bbox: tuple[float, ...]) -> dict[str, Any]:
    """What the audit row keeps of an outline: its box and a digest (the file keeps the rest)."""
    digest = hashlib.sha256(json.dumps(geometry_json, sort_keys=True).encode()).hexdigest()
    return {"type": geometry_json.get("type"), "bbox": list(bbox), "sha256": digest[:16]}


def _in_boxes(boxes: list[tuple[float, float, float, float]]) -> Iterator[Q]:
    # A few boxes per query: SQLite refuses expressions nested more than 1000 deep.
    for start in range(0, len(boxes), 100):
        q = Q(pk__in=[])
        for min_lat, max_lat, min_lng, max_lng in boxes[start : start + 100]:
            q |= Q(
                latitude__gte=min_lat - _PAD,
                latitude__lte=max_lat + _PAD,
                longitude__gte=min_lng - _PAD,
                longitude__lte=max_lng + _PAD,
            )
        yield q


def affected_institution_ids(
    region_ids: Iterable[int], boxes: list[tuple[float, float, float, float]]
) -> set[int]:
    """Current institutions in one of the communities, or positioned inside one of the boxes."""
    current = Institution.objects.filter(merged_into__isnull=True)
    ids: set[int] = set()
    region_list = list(region_ids)
    for start in range(0, len(region_list), _CHUNK):
        chunk = region_list[start : start + _CHUNK]
        ids.update(
            current.filter(Q(community__in=chunk) | Q(region__in=chunk)).values_list(
                "pk", flat=True
            )
        )
    for q in _in_boxes(boxes):
        ids.update(current.filter(q).values_list("pk", flat=True))
    return ids


def _estimate(checked: CheckedFile) -> int:
    """How many institutions the file may re-place (its outlines, old and new, and communities)."""
    region_ids = [f.region.pk for f in checked.features]
    boxes = [_bbox(f.geometry) for f in checked.features]
    for start in range(0, len(region_ids), _CHUNK):
        chunk = region_ids[start : start + _CHUNK]
        boxes.extend(_boundary_bbox(b) for b in Boundary.objects.filter(region__in=chunk))
    return len(affected_institution_ids(region_ids, boxes))


def boundaries_import(*, actor: Any, data: bytes, filename: str, datum: str = "") -> BoundaryImport:
    """Check a GeoJSON of community outlines, then write them and re-place the institutions.

    ``datum`` (``wgs84`` or ``gcj02``) overrides the file's own ``datum`` member. Small files are
    applied at once; large ones are queued for the worker and the import is returned QUEUED.
    """
    require_territory_manage(actor)
    checked = check_file(actor=actor, data=data, datum=datum)
    queue = len(checked.features) > SYNC_MAX_FEATURES or _estimate(checked) > SYNC_MAX_INSTITUTIONS
    name = (filename or "boundaries.geojson")[:200]
    try:
        with transaction.atomic():
            record = BoundaryImport(
                uploaded_by=actor,
                original_name=name,
                encoding=checked.encoding,
                datum=checked.datum,
                status=ImportStatus.QUEUED if queue else ImportStatus.RUNNING,
            )
            record.file.save(name, ContentFile(data), save=False)
            record.save()
            if queue:
                event_record(
                    actor=actor,
                    verb="boundary_import.queued",
                    obj=record,
                    after={"features": len(checked.features), "datum": checked.datum},
                )
                from bihuan.registry.tasks_boundaries import apply_boundary_import

                record_id = record.pk
                transaction.on_commit(lambda: apply_boundary_import.enqueue(record_id))
                return record
            _apply(record, checked, actor)
    except IntegrityError:
        raise ServiceError(_concurrent_message()) from None
    return record


def boundary_import_apply(record_id: int) -> BoundaryImport:
    """The worker's part: check the stored file again and apply it (FAILED with the errors)."""
    with transaction.atomic():
        record = BoundaryImport.objects.select_for_update().get(pk=record_id)
        if record.status != ImportStatus.QUEUED:
            return record
        record.status = ImportStatus.RUNNING
        record.save(update_fields=["status"])
    actor = record.uploaded_by
    try:
        with record.file.open("rb") as handle:
            data = handle.read()
        checked = check_file(actor=actor, data=data, datum=record.datum)
        with transaction.atomic():
            _apply(record, checked, actor)
    except (ServiceError, IntegrityError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else _concurrent_message()
        errors = exc.errors if isinstance(exc, BoundaryFileError) else []
        with transaction.atomic():
            BoundaryImport.objects.filter(pk=record_id).update(
                status=ImportStatus.FAILED, counts={"error": message, "errors": errors}
            )
            event_record(
                actor=actor, verb="boundary_import.failed", obj=record, after={"error": message}
            )
    record.refresh_from_db()
    return record


def _concurrent_message() -> str:
    return _("Another import changed the same outlines at the same time; upload the file again.")


def _apply(record: BoundaryImport, checked: CheckedFile, actor: Any) -> None:
    """Upsert the outlines, re-place the institutions they concern, and record it all."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "repaired": 0}
    report: list[dict[str, Any]] = []
    changed_regions: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    existing = {
        b.region_id: b
        for start in range(0, len(checked.features), _CHUNK)
        for b in Boundary.objects.select_for_update().filter(
            region__in=[f.region.pk for f in checked.features[start : start + _CHUNK]]
        )
    }
    for feature in checked.features:
        counts["repaired"] += bool(feature.repaired)
        boundary = existing.get(feature.region.pk)
        before = None
        if boundary is None:
            action = "created"
            boundary = Boundary(region=feature.region)
        elif shape(boundary.geometry).equals(feature.geometry):
            action = "unchanged"
        else:
            action = "updated"
            before = _summary(boundary.geometry, _boundary_bbox(boundary))
            boxes.append(_boundary_bbox(boundary))
        counts[action] += 1
        report.append(
            {
                "number": feature.number,
                "code": feature.region.code,
                "name": feature.region.name,
                "action": action,
                "repaired": feature.repaired,
            }
        )
        if action == "unchanged":
            continue
        geometry_json = _as_json(feature.geometry)
        bbox = _bbox(feature.geometry)
        boundary.geometry = geometry_json
        boundary.min_lat, boundary.max_lat, boundary.min_lng, boundary.max_lng = bbox
        boundary.save()
        boxes.append(bbox)
        changed_regions.append(feature.region.pk)
        event_record(
            actor=actor,
            verb=f"boundary.{action}",
            obj=boundary,
            before=before,
            after=_summary(geometry_json, bbox)
            | {"import": record.pk, "repaired": feature.repaired},
        )
    placed, moved = replace_institutions(
        actor=actor, ids=affected_institution_ids(changed_regions, boxes), record=record
    )
    record.features = report
    record.counts = counts | {"features": len(report), "placed": placed, "moved": len(moved)}
    record.moved = moved
    record.status = ImportStatus.DONE
    record.save(update_fields=["features", "counts", "moved", "status"])
    event_record(actor=actor, verb="boundary_import.applied", obj=record, after=record.counts)


def replace_institutions(
    *, actor: Any, ids: Iterable[int], record: BoundaryImport | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Place the institutions again; returns how many changed and the list of those that moved.

    Each change is an ``institution.placed`` event; "moved" means the community changed.
    """
    ordered = sorted(ids)
    placed = 0
    moved: list[dict[str, Any]] = []
    for start in range(0, len(ordered), _CHUNK):
        rows = (
            Institution.objects.select_for_update(of=("self",))
            .filter(pk__in=ordered[start : start + _CHUNK])
            .select_related("region", "community")
            .order_by("pk")
        )
        for institution in rows:
            before = snapshot(institution, _PLACEMENT_FIELDS)
            previous = institution.community
            if not place_institution(institution):
                continue
            placed += 1
            event_record(
                actor=actor,
                verb="institution.placed",
                obj=institution,
                before=before,
                after=snapshot(institution, _PLACEMENT_FIELDS)
                | ({"boundary_import": record.pk} if record is not None else {}),
            )
            current = institution.community
            if current is not None and (previous is None or previous.pk != current.pk):
                moved.append(
                    {
                        "institution": institution.pk,
                        "name": institution.name,
                        "from": previous.code if previous else "",
                        "from_name": previous.name if previous else "",
                        "to": current.code,
                        "to_name": current.name,
                    }
                )
    return placed, moved
