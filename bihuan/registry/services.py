"""Writes to the registry: each function checks, saves and records one change."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from stdnum.cn import uscc

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.geo import gcj02_to_wgs84
from bihuan.registry.models import Category, CourseOffering, Datum, Institution, Source, Status
from bihuan.registry.normalize import normalize_name, normalize_phone, pinyin_forms
from bihuan.territory.models import Level, Region

FIELDS = [
    "name",
    "credit_code",
    "licence_number",
    "category",
    "status",
    "is_blacklisted",
    "blacklist_reason",
    "operator_name",
    "contact_phone",
    "address",
    "latitude",
    "longitude",
    "source_datum",
    "region",
    "community",
    "area",
    "has_custody_account",
    "capacity",
    "merged_into",
]
# What an edit may change; status, blacklist, placement and merges have their own services.
EDITABLE = [
    "name",
    "credit_code",
    "licence_number",
    "category",
    "operator_name",
    "contact_phone",
    "address",
    "has_custody_account",
    "capacity",
]


def require_manage(actor: Any) -> None:
    """Refuse an actor whose roles do not allow registry changes (None is the system itself)."""
    if actor is not None and not can(actor, Capability.REGISTRY_MANAGE):
        raise NotAllowed(_("Your roles do not allow this change."))


def clean_credit_code(value: str) -> str:
    """A valid unified social credit code (GB 32100), upper-case, or ServiceError."""
    code = (value or "").strip().upper()
    if not code:
        return ""
    try:
        return str(uscc.validate(code))
    except Exception:  # stdnum raises several ValidationError subclasses
        raise ServiceError(
            _("“%(code)s” is not a valid unified social credit code.") % {"code": value},
            field="credit_code",
        ) from None


def clean_phone(value: str) -> str:
    """Digits of a phone number (7 to 12 of them), or ServiceError."""
    phone = normalize_phone(value)
    if phone and not 7 <= len(phone) <= 12:
        raise ServiceError(_("A phone number has 7 to 12 digits."), field="contact_phone")
    return phone


def to_wgs84(lat: Any, lng: Any, datum: str) -> tuple[Decimal | None, Decimal | None]:
    """Stored coordinates: WGS-84, six decimals (about 0.1 m), converted from GCJ-02 if needed."""
    if lat in (None, "") and lng in (None, ""):
        return None, None
    try:
        flat, flng = float(lat), float(lng)
    except (TypeError, ValueError):
        raise ServiceError(_("Coordinates must be numbers."), field="latitude") from None
    if not (-90 <= flat <= 90 and -180 <= flng <= 180):
        raise ServiceError(_("Coordinates are out of range."), field="latitude")
    if datum == Datum.GCJ02:
        flat, flng = gcj02_to_wgs84(flat, flng)
    elif datum != Datum.WGS84:
        raise ServiceError(_("Say whether the coordinates are WGS-84 or GCJ-02."), field="datum")
    return Decimal(f"{flat:.6f}"), Decimal(f"{flng:.6f}")


def _set_names(institution: Institution) -> None:
    institution.name = institution.name.strip()
    institution.name_normalized = normalize_name(institution.name)[:200]
    institution.name_pinyin, institution.name_initials = pinyin_forms(institution.name)


def _place_from_region(institution: Institution, region: Region) -> None:
    institution.region = region
    if region.level == Level.COMMUNITY:
        institution.community = region
        institution.area = region.community_areas.filter(is_active=True).first()


def institution_build(
    *,
    name: str,
    region: Region,
    source: str,
    credit_code: str = "",
    licence_number: str = "",
    category: str = Category.NONE,
    status: str = Status.REGISTERED,
    operator_name: str = "",
    contact_phone: str = "",
    address: str = "",
    latitude: Any = None,
    longitude: Any = None,
    datum: str = "",
    has_custody_account: bool = False,
    capacity: int | None = None,
    is_synthetic: bool = False,
) -> Institution:
    """Validate and assemble an unsaved institution (used by create and by bulk import)."""
    if not name or not name.strip():
        raise ServiceError(_("An institution needs a name."), field="name")
    if len(name.strip()) > 200:
        raise ServiceError(_("A name has at most 200 characters."), field="name")
    if category not in Category.values:
        raise ServiceError(_("Unknown licence category."), field="category")
    if status not in Status.values:
        raise ServiceError(_("Unknown status."), field="status")
    if capacity is not None and capacity < 0:
        raise ServiceError(_("Capacity cannot be negative."), field="capacity")
    lat, lng = to_wgs84(latitude, longitude, datum or Datum.WGS84)
    institution = Institution(
        name=name,
        credit_code=clean_credit_code(credit_code),
        licence_number=(licence_number or "").strip(),
        category=category,
        status=status,
        operator_name=(operator_name or "").strip(),
        contact_phone=clean_phone(contact_phone),
        address=(address or "").strip(),
        latitude=lat,
        longitude=lng,
        source_datum=(datum or Datum.WGS84) if lat is not None else "",
        has_custody_account=has_custody_account,
        capacity=capacity,
        source=source,
        is_synthetic=is_synthetic,
        region=region,
    )
    _set_names(institution)
    _place_from_region(institution, region)
    return institution


@transaction.atomic
def institution_create(*, actor: Any, **fields: Any) -> Institution:
    """Register an institution (field finds arrive with status PENDING); placed at once."""
    if fields.get("source") != Source.FIELD:
        require_manage(actor)
    institution = institution_build(**fields)
    try:
        with transaction.atomic():
            institution.save()
    except IntegrityError:
        raise ServiceError(
            _("Another institution already has this credit code or licence number."),
            field="credit_code",
        ) from None
    from bihuan.registry.placement import place_institution

    place_institution(institution)
    event_record(
        actor=actor,
        verb="institution.created",
        obj=institution,
        after=snapshot(institution, FIELDS),
    )
    return institution


@transaction.atomic
def institution_update(*, actor: Any, institution: Institution, **changes: Any) -> Institution:
    """Change the editable fields of an institution; records before and after."""
    require_manage(actor)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ServiceError(_("These fields cannot be edited here: %(f)s") % {"f": sorted(unknown)})
    institution = Institution.objects.select_for_update().get(pk=institution.pk)
    if institution.is_merged:
        raise ServiceError(_("This record was merged into another; edit that one."))
    before = snapshot(institution, FIELDS)
    if "credit_code" in changes:
        changes["credit_code"] = clean_credit_code(changes["credit_code"])
    if "contact_phone" in changes:
        changes["contact_phone"] = clean_phone(changes["contact_phone"])
    if "category" in changes and changes["category"] not in Category.values:
        raise ServiceError(_("Unknown licence category."), field="category")
    for key, value in changes.items():
        setattr(institution, key, value.strip() if isinstance(value, str) else value)
    _set_names(institution)
    if not institution.name:
        raise ServiceError(_("An institution needs a name."), field="name")
    after = snapshot(institution, FIELDS)
    if after == before:
        return institution
    try:
        with transaction.atomic():
            institution.save()
    except IntegrityError:
        raise ServiceError(
            _("Another institution already has this credit code or licence number."),
            field="credit_code",
        ) from None
    event_record(
        actor=actor, verb="institution.updated", obj=institution, before=before, after=after
    )
    return institution


STATUS_MOVES: dict[str, set[str]] = {
    Status.PENDING: {Status.REGISTERED, Status.CLOSED},
    Status.REGISTERED: {Status.SUSPENDED, Status.CLOSED},
    Status.SUSPENDED: {Status.REGISTERED, Status.CLOSED},
    Status.CLOSED: {Status.REGISTERED},
}


@transaction.atomic
def institution_set_status(
    *, actor: Any, institution: Institution, status: str, reason: str = ""
) -> Institution:
    """Approve a field find, suspend, close or reopen, along the allowed moves."""
    require_manage(actor)
    institution = Institution.objects.select_for_update().get(pk=institution.pk)
    institution_move_status(actor=actor, institution=institution, status=status, reason=reason)
    return institution


def institution_move_status(
    *, actor: Any, institution: Institution, status: str, **extra: Any
) -> None:
    """Move a locked institution along STATUS_MOVES and record it; the caller checked the actor.

    Shared by the registry's own status change and by the approval of field finds, whose
    coordinators may approve without the registry's capability.
    """
    if status not in STATUS_MOVES.get(institution.status, set()):
        raise ServiceError(
            _("An institution cannot go from “%(a)s” to “%(b)s”.")
            % {"a": institution.get_status_display(), "b": Status(status).label}
            if status in Status.values
            else _("Unknown status.")
        )
    before = snapshot(institution, FIELDS)
    institution.status = status
    institution.save(update_fields=["status", "updated_at"])
    event_record(
        actor=actor,
        verb="institution.status_changed",
        obj=institution,
        before=before,
        after=snapshot(institution, FIELDS) | extra,
    )


@transaction.atomic
def institution_set_blacklist(
    *, actor: Any, institution: Institution, blacklisted: bool, reason: str = ""
) -> Institution:
    """Put an institution on the blacklist (a reason is required) or take it off."""
    require_manage(actor)
    if blacklisted and not reason.strip():
        raise ServiceError(_("Say why the institution is blacklisted."), field="reason")
    institution = Institution.objects.select_for_update().get(pk=institution.pk)
    before = snapshot(institution, FIELDS)
    institution.is_blacklisted = blacklisted
    institution.blacklist_reason = reason.strip() if blacklisted else ""
    institution.save(update_fields=["is_blacklisted", "blacklist_reason", "updated_at"])
    event_record(
        actor=actor,
        verb="institution.blacklisted" if blacklisted else "institution.unblacklisted",
        obj=institution,
        before=before,
        after=snapshot(institution, FIELDS),
    )
    return institution


@transaction.atomic
def course_add(
    *,
    actor: Any,
    institution: Institution,
    name: str,
    is_subject: bool,
    age_min: int | None = None,
    age_max: int | None = None,
) -> CourseOffering:
    """Record a course the institution offers."""
    require_manage(actor)
    if not name.strip():
        raise ServiceError(_("A course needs a name."), field="name")
    if age_min is not None and age_max is not None and age_min > age_max:
        raise ServiceError(_("The minimum age is above the maximum age."), field="age_min")
    course = CourseOffering.objects.create(
        institution=institution,
        name=name.strip(),
        is_subject=is_subject,
        age_min=age_min,
        age_max=age_max,
    )
    event_record(
        actor=actor,
        verb="institution.course_added",
        obj=institution,
        after=snapshot(course, ["name", "is_subject", "age_min", "age_max"]),
    )
    return course
