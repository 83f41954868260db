"""Writes to the territory: each function checks, saves and records one change."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.territory import codes
from bihuan.territory.models import (
    Area,
    AreaResponsible,
    Level,
    Region,
    ResponsiblePartyKind,
    Sentinel,
    SentinelKind,
)

_REGION_FIELDS = ["code", "name", "level", "parent", "is_synthetic", "is_active"]
_AREA_FIELDS = ["name", "school_district", "region", "is_synthetic", "is_active"]
_SENTINEL_FIELDS = ["kind", "name", "region", "area", "address", "is_synthetic", "is_active"]
_RESPONSIBLE_FIELDS = ["area", "kind", "name", "title", "phone", "user", "is_active"]


def _require(actor: Any, capability: Capability) -> None:
    if actor is not None and not can(actor, capability):
        raise NotAllowed(_("Your roles do not allow this change."))


def _require_area_editor(actor: Any, area: Area) -> None:
    """System administrators everywhere; supervisors only for areas of their place."""
    if actor is None or can(actor, Capability.TERRITORY_MANAGE):
        return
    from bihuan.territory.selectors import areas_visible_to

    if not (
        can(actor, Capability.AREA_RESPONSIBLES_MANAGE)
        and areas_visible_to(actor).filter(pk=area.pk).exists()
    ):
        raise NotAllowed(_("Your roles do not allow this change."))


def region_path(parent: Region | None, code: str) -> str:
    """The materialised path of a region with this code under this parent."""
    return f"{parent.path if parent else ''}{code}/"


def region_validate(code: str, name: str, level: str, parent: Region | None) -> None:
    """Raise ServiceError when the region would not fit the tree."""
    try:
        codes.check_code(code, level)
        codes.check_parent(
            code, level, parent.code if parent else None, parent.level if parent else None
        )
    except codes.CodeError as exc:
        raise ServiceError(str(exc), field="code") from None
    if not name.strip():
        raise ServiceError(_("A region needs a name."), field="name")
    if len(name) > 100:
        raise ServiceError(_("A region name has at most 100 characters."), field="name")


@transaction.atomic
def region_upsert(
    *,
    actor: Any,
    code: str,
    name: str,
    level: str,
    parent_code: str | None,
    is_synthetic: bool | None = None,
) -> tuple[Region, str]:
    """Create the region or rename it; returns it and "created", "updated" or "unchanged".

    ``is_synthetic`` None keeps an existing region's mark (and means official for a new one);
    a retired region stays retired: bringing it back is ``region_set_active``'s decision.
    """
    _require(actor, Capability.TERRITORY_MANAGE)
    parent = None
    if parent_code:
        parent = Region.objects.filter(code=parent_code).first()
        if parent is None:
            raise ServiceError(
                _("Parent code “%(code)s” is not in the territory.") % {"code": parent_code},
                field="parent",
            )
    name = name.strip()
    region_validate(code, name, level, parent)
    existing = Region.objects.select_for_update().filter(code=code).first()
    if existing is None:
        region = Region.objects.create(
            code=code,
            name=name,
            level=level,
            parent=parent,
            path=region_path(parent, code),
            depth=0 if parent is None else parent.depth + 1,
            is_synthetic=bool(is_synthetic),
        )
        event_record(
            actor=actor, verb="region.created", obj=region, after=snapshot(region, _REGION_FIELDS)
        )
        return region, "created"
    if existing.level != level or existing.parent_id != (parent.pk if parent else None):
        raise ServiceError(
            _("Region %(code)s already exists at another place in the tree; it cannot be moved.")
            % {"code": code},
            field="code",
        )
    synthetic = existing.is_synthetic if is_synthetic is None else is_synthetic
    if existing.name == name and existing.is_synthetic == synthetic:
        return existing, "unchanged"
    before = snapshot(existing, _REGION_FIELDS)
    existing.name = name
    existing.is_synthetic = synthetic
    existing.save(update_fields=["name", "is_synthetic"])
    event_record(
        actor=actor,
        verb="region.updated",
        obj=existing,
        before=before,
        after=snapshot(existing, _REGION_FIELDS),
    )
    return existing, "updated"


@transaction.atomic
def region_set_active(*, actor: Any, region: Region, active: bool) -> Region:
    """Retire a region (or bring it back); it is never deleted, so history keeps its place."""
    _require(actor, Capability.TERRITORY_MANAGE)
    region = Region.objects.select_for_update().get(pk=region.pk)
    if region.is_active == active:
        return region
    if not active and region.children.filter(is_active=True).exists():
        raise ServiceError(_("Retire the regions below this one first."))
    before = snapshot(region, _REGION_FIELDS)
    region.is_active = active
    region.save(update_fields=["is_active"])
    event_record(
        actor=actor,
        verb="region.retired" if not active else "region.restored",
        obj=region,
        before=before,
        after=snapshot(region, _REGION_FIELDS),
    )
    return region


@transaction.atomic
def area_create(
    *,
    actor: Any,
    name: str,
    region: Region,
    communities: list[Region],
    school_district: str = "",
    is_synthetic: bool = False,
) -> Area:
    """Create an area of responsibility over communities that lie within its region."""
    _require(actor, Capability.TERRITORY_MANAGE)
    if not name.strip():
        raise ServiceError(_("An area needs a name."), field="name")
    for community in communities:
        if community.level != Level.COMMUNITY or not community.path.startswith(region.path):
            raise ServiceError(
                _("%(name)s is not a community within %(region)s.")
                % {"name": community.name, "region": region.name},
                field="communities",
            )
    if Area.objects.filter(region=region, name=name.strip()).exists():
        raise ServiceError(_("An area of that name already exists here."), field="name")
    area = Area.objects.create(
        name=name.strip(), region=region, school_district=school_district, is_synthetic=is_synthetic
    )
    area.communities.set(communities)
    after = snapshot(area, _AREA_FIELDS) | {"communities": sorted(c.code for c in communities)}
    event_record(actor=actor, verb="area.created", obj=area, after=after)
    return area


@transaction.atomic
def area_responsible_add(
    *,
    actor: Any,
    area: Area,
    kind: ResponsiblePartyKind,
    name: str,
    title: str = "",
    phone: str = "",
    user: Any = None,
) -> AreaResponsible:
    """Name a responsible party of an area."""
    _require_area_editor(actor, area)
    if not name.strip():
        raise ServiceError(_("A responsible party needs a name."), field="name")
    if phone and (not phone.isdigit() or not 7 <= len(phone) <= 20):
        raise ServiceError(_("A phone number has 7 to 20 digits."), field="phone")
    party = AreaResponsible.objects.create(
        area=area, kind=kind, name=name.strip(), title=title, phone=phone, user=user
    )
    event_record(
        actor=actor,
        verb="area.responsible_added",
        obj=party,
        after=snapshot(party, _RESPONSIBLE_FIELDS),
    )
    return party


@transaction.atomic
def area_responsible_end(*, actor: Any, party: AreaResponsible) -> AreaResponsible:
    """A responsible party stands down; the record stays for history."""
    _require_area_editor(actor, party.area)
    party = AreaResponsible.objects.select_for_update().get(pk=party.pk)
    if not party.is_active:
        return party
    before = snapshot(party, _RESPONSIBLE_FIELDS)
    party.is_active = False
    party.save(update_fields=["is_active"])
    event_record(
        actor=actor,
        verb="area.responsible_ended",
        obj=party,
        before=before,
        after=snapshot(party, _RESPONSIBLE_FIELDS),
    )
    return party


@transaction.atomic
def sentinel_create(
    *,
    actor: Any,
    kind: str,
    name: str,
    region: Region,
    area: Area | None = None,
    address: str = "",
    is_synthetic: bool = False,
) -> Sentinel:
    """Register a community or a school as a sentinel of its community."""
    _require(actor, Capability.TERRITORY_MANAGE)
    if region.level != Level.COMMUNITY:
        raise ServiceError(_("A sentinel belongs to a community."), field="region")
    if (
        kind == SentinelKind.COMMUNITY
        and Sentinel.objects.filter(region=region, kind=SentinelKind.COMMUNITY).exists()
    ):
        raise ServiceError(_("This community is already a sentinel."), field="region")
    if not name.strip():
        raise ServiceError(_("A sentinel needs a name."), field="name")
    sentinel = Sentinel.objects.create(
        kind=kind,
        name=name.strip(),
        region=region,
        area=area,
        address=address,
        is_synthetic=is_synthetic,
    )
    event_record(
        actor=actor,
        verb="sentinel.created",
        obj=sentinel,
        after=snapshot(sentinel, _SENTINEL_FIELDS),
    )
    return sentinel


@transaction.atomic
def responsible_kind_create(*, actor: Any, code: str, name: str) -> ResponsiblePartyKind:
    """Add a kind of responsible party to the configurable list."""
    _require(actor, Capability.TERRITORY_MANAGE)
    code, name = code.strip().lower(), name.strip()
    if not code or not name:
        raise ServiceError(_("A kind needs a code and a name."), field="code")
    if ResponsiblePartyKind.objects.filter(code=code).exists():
        raise ServiceError(_("A kind with that code exists."), field="code")
    last = ResponsiblePartyKind.objects.order_by("-sort_order").first()
    kind = ResponsiblePartyKind.objects.create(
        code=code, name=name, sort_order=(last.sort_order + 10) if last else 10
    )
    event_record(
        actor=actor,
        verb="responsible_kind.created",
        obj=kind,
        after=snapshot(kind, ["code", "name", "sort_order", "is_active"]),
    )
    return kind


@transaction.atomic
def responsible_kind_set_active(
    *, actor: Any, kind: ResponsiblePartyKind, active: bool
) -> ResponsiblePartyKind:
    """Retire a kind (existing parties keep it) or bring it back."""
    _require(actor, Capability.TERRITORY_MANAGE)
    kind = ResponsiblePartyKind.objects.select_for_update().get(pk=kind.pk)
    if kind.is_active == active:
        return kind
    kind.is_active = active
    kind.save(update_fields=["is_active"])
    event_record(
        actor=actor,
        verb="responsible_kind.restored" if active else "responsible_kind.retired",
        obj=kind,
        before={"is_active": not active},
        after={"is_active": active},
    )
    return kind
