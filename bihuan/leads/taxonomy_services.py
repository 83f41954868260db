"""Writes to the violation taxonomy, the groups' deadlines and the routing rules.

Each function checks the actor, locks, validates, saves and records before/after in the audit
log, so the history of every taxonomy entry and rule can be read back. Nothing is deleted: a type
is deactivated, and a rule is changed by deactivating it and creating its successor.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.leads.models import DEPARTMENT_CHOICES, RoutingRule, ViolationGroup, ViolationType
from bihuan.registry.models import Category
from bihuan.territory.models import Region

TYPE_FIELDS = [
    "code",
    "name",
    "group",
    "legal_basis",
    "lead_kind",
    "assisting_kinds",
    "severity",
    "is_disguised",
    "is_active",
]
GROUP_FIELDS = ["code", "name", "sign_days", "reply_days"]
RULE_FIELDS = [
    "violation_type",
    "category",
    "region",
    "lead_kind",
    "assisting_kinds",
    "note",
    "is_active",
]

CODE_PATTERN = re.compile(r"^[A-Z][0-9]{1,2}$")
KINDS = frozenset(value for value, _label in DEPARTMENT_CHOICES)
DAYS_MIN, DAYS_MAX = 1, 60
SEVERITIES = (1, 2, 3)
NAME_MAX = ViolationType._meta.get_field("name").max_length or 200
GROUP_NAME_MAX = ViolationGroup._meta.get_field("name").max_length or 50
NOTE_MAX = RoutingRule._meta.get_field("note").max_length or 300


def _require_manage(actor: Any) -> None:
    # None is the system itself (migrations, commands), as in the other apps' services.
    if actor is not None and not can(actor, Capability.TAXONOMY_MANAGE):
        raise NotAllowed(_("Your roles do not allow this change."))


def clean_kinds(lead_kind: str, assisting_kinds: Iterable[str]) -> tuple[str, list[str]]:
    """A known lead kind and distinct known assisting kinds that exclude it, or ServiceError."""
    if lead_kind not in KINDS:
        raise ServiceError(
            _("“%(kind)s” is not a department kind.") % {"kind": lead_kind}, field="lead_kind"
        )
    assisting = list(assisting_kinds)
    unknown = [k for k in assisting if k not in KINDS]
    if unknown:
        raise ServiceError(
            _("Not department kinds: %(kinds)s.") % {"kinds": ", ".join(map(str, unknown))},
            field="assisting_kinds",
        )
    if lead_kind in assisting:
        raise ServiceError(_("The lead department cannot also assist."), field="assisting_kinds")
    if len(set(assisting)) != len(assisting):
        raise ServiceError(_("Each assisting department is named once."), field="assisting_kinds")
    return lead_kind, assisting


def _clean_name(name: str, limit: int) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("A name is required."), field="name")
    if len(name) > limit:
        raise ServiceError(_("A name has at most %(n)d characters.") % {"n": limit}, field="name")
    return name


def _clean_severity(severity: int) -> int:
    if severity not in SEVERITIES:
        raise ServiceError(_("Severity is 1, 2 or 3."), field="severity")
    return int(severity)


def _clean_days(value: int, field: str) -> int:
    if not isinstance(value, int) or not DAYS_MIN <= value <= DAYS_MAX:
        raise ServiceError(
            _("A deadline is %(min)d to %(max)d working days.")
            % {"min": DAYS_MIN, "max": DAYS_MAX},
            field=field,
        )
    return value


@transaction.atomic
def violation_type_create(
    *,
    actor: Any,
    code: str,
    name: str,
    group: ViolationGroup,
    lead_kind: str,
    assisting_kinds: Iterable[str] = (),
    severity: int = 2,
    legal_basis: str = "",
    is_disguised: bool = False,
) -> ViolationType:
    """Add a violation type to the taxonomy."""
    _require_manage(actor)
    code = (code or "").strip().upper()
    if not CODE_PATTERN.match(code):
        raise ServiceError(
            _("A code is one capital letter and one or two digits, such as B3."), field="code"
        )
    lead_kind, assisting = clean_kinds(lead_kind, assisting_kinds)
    violation_type = ViolationType(
        code=code,
        name=_clean_name(name, NAME_MAX),
        group=group,
        legal_basis=(legal_basis or "").strip(),
        lead_kind=lead_kind,
        assisting_kinds=assisting,
        severity=_clean_severity(severity),
        is_disguised=bool(is_disguised),
    )
    try:
        with transaction.atomic():
            violation_type.save()
    except IntegrityError:
        raise ServiceError(
            _("The code %(code)s is taken.") % {"code": code}, field="code"
        ) from None
    event_record(
        actor=actor,
        verb="violation_type.created",
        obj=violation_type,
        after=snapshot(violation_type, TYPE_FIELDS),
    )
    return violation_type


@transaction.atomic
def violation_type_update(
    *,
    actor: Any,
    violation_type: ViolationType,
    name: str | None = None,
    group: ViolationGroup | None = None,
    legal_basis: str | None = None,
    lead_kind: str | None = None,
    assisting_kinds: Iterable[str] | None = None,
    severity: int | None = None,
    is_disguised: bool | None = None,
) -> ViolationType:
    """Change a type's description or defaults (None leaves a field as it is); the code stays."""
    _require_manage(actor)
    locked = ViolationType.objects.select_for_update().get(pk=violation_type.pk)
    before = snapshot(locked, TYPE_FIELDS)
    if name is not None:
        locked.name = _clean_name(name, NAME_MAX)
    if group is not None:
        locked.group = group
    if legal_basis is not None:
        locked.legal_basis = legal_basis.strip()
    if severity is not None:
        locked.severity = _clean_severity(severity)
    if is_disguised is not None:
        locked.is_disguised = bool(is_disguised)
    locked.lead_kind, locked.assisting_kinds = clean_kinds(
        locked.lead_kind if lead_kind is None else lead_kind,
        locked.assisting_kinds if assisting_kinds is None else assisting_kinds,
    )
    after = snapshot(locked, TYPE_FIELDS)
    if after == before:
        return locked
    locked.save()
    event_record(actor=actor, verb="violation_type.updated", obj=locked, before=before, after=after)
    return locked


@transaction.atomic
def violation_type_set_active(
    *, actor: Any, violation_type: ViolationType, is_active: bool
) -> ViolationType:
    """Offer a type again when classifying leads, or stop offering it (leads keep theirs)."""
    _require_manage(actor)
    locked = ViolationType.objects.select_for_update().get(pk=violation_type.pk)
    if locked.is_active == is_active:
        message = (
            _("%(code)s is already active.") if is_active else _("%(code)s is already inactive.")
        )
        raise ServiceError(message % {"code": locked.code}, field="is_active")
    before = snapshot(locked, TYPE_FIELDS)
    locked.is_active = is_active
    locked.save(update_fields=["is_active", "updated_at"])
    event_record(
        actor=actor,
        verb="violation_type.activated" if is_active else "violation_type.deactivated",
        obj=locked,
        before=before,
        after=snapshot(locked, TYPE_FIELDS),
    )
    return locked


@transaction.atomic
def violation_group_update(
    *,
    actor: Any,
    group: ViolationGroup,
    name: str | None = None,
    sign_days: int | None = None,
    reply_days: int | None = None,
) -> ViolationGroup:
    """Rename a group or change its deadlines; work orders already sent keep their deadlines."""
    _require_manage(actor)
    locked = ViolationGroup.objects.select_for_update().get(pk=group.pk)
    before = snapshot(locked, GROUP_FIELDS)
    if name is not None:
        locked.name = _clean_name(name, GROUP_NAME_MAX)
    if sign_days is not None:
        locked.sign_days = _clean_days(sign_days, "sign_days")
    if reply_days is not None:
        locked.reply_days = _clean_days(reply_days, "reply_days")
    after = snapshot(locked, GROUP_FIELDS)
    if after == before:
        return locked
    locked.save()
    event_record(
        actor=actor, verb="violation_group.updated", obj=locked, before=before, after=after
    )
    return locked


@transaction.atomic
def routing_rule_create(
    *,
    actor: Any,
    violation_type: ViolationType,
    lead_kind: str,
    assisting_kinds: Iterable[str] = (),
    category: str = "",
    region: Region | None = None,
    note: str = "",
) -> RoutingRule:
    """Route a type elsewhere than its default, for one licence category and/or region subtree."""
    _require_manage(actor)
    if category and category not in Category.values:
        raise ServiceError(_("Unknown licence category."), field="category")
    lead_kind, assisting = clean_kinds(lead_kind, assisting_kinds)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ServiceError(
            _("A note has at most %(n)d characters.") % {"n": NOTE_MAX}, field="note"
        )
    # Rules of one type are written one at a time, so the uniqueness check below sees the others.
    ViolationType.objects.select_for_update().get(pk=violation_type.pk)
    rule = RoutingRule(
        violation_type=violation_type,
        category=category,
        region=region,
        lead_kind=lead_kind,
        assisting_kinds=assisting,
        note=note,
    )
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise ServiceError(
            _(
                "An active rule for this type, licence category and region exists already; "
                "deactivate it first."
            ),
            field="violation_type",
        ) from None
    event_record(
        actor=actor, verb="routing_rule.created", obj=rule, after=snapshot(rule, RULE_FIELDS)
    )
    return rule


@transaction.atomic
def routing_rule_deactivate(*, actor: Any, rule: RoutingRule) -> RoutingRule:
    """Stop applying a rule; it stays, inactive, for the history of past dispatches."""
    _require_manage(actor)
    locked = RoutingRule.objects.select_for_update().get(pk=rule.pk)
    if not locked.is_active:
        raise ServiceError(_("This rule is already inactive."), field="is_active")
    before = snapshot(locked, RULE_FIELDS)
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    event_record(
        actor=actor,
        verb="routing_rule.deactivated",
        obj=locked,
        before=before,
        after=snapshot(locked, RULE_FIELDS),
    )
    return locked
