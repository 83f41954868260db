"""Every change to a lead, a work order or a joint operation: one function per move.

Each function locks the rows it changes (lead first, then its orders, always in that order, so two
actors never deadlock), checks the move against ``workflow`` and the actor's place, saves, writes an
audit event whose ``after`` carries the new status (``check_loop`` compares the log with the rows),
and leaves notifications to ``transaction.on_commit``. ``actor=None`` is the system clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.models import Assignment, Department, Role, User
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.accounts.selectors import people_over
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.workdays import add_working_days
from bihuan.leads import evidence, routing
from bihuan.leads.models import (
    ExtensionRequest,
    JointOperation,
    JointParticipant,
    Lead,
    Reminder,
    Severity,
    ViolationType,
    WorkOrder,
)
from bihuan.leads.routing_inputs import routing_inputs
from bihuan.leads.selectors import bureau_for, leads_triaged_by, work_orders_handled_by
from bihuan.leads.workflow import (
    LEAD_OPEN,
    ORDER_LIVE,
    ClosureReason,
    ExtensionStatus,
    JointStatus,
    LeadSource,
    LeadStatus,
    OrderStatus,
    ReminderKind,
    lead_may_move,
    lead_status_for_orders,
    order_may_move,
)
from bihuan.registry.models import Category, Institution
from bihuan.registry.models import Status as InstitutionStatus
from bihuan.territory.codes import ancestor_paths
from bihuan.territory.models import Region, Sentinel
from bihuan.webhooks import services as webhooks  # webhooks hook (issue 7)

# The bureau's own clocks, in working days (the departments' come from the violation groups).
TRIAGE_DAYS = 2
DISPATCH_DAYS = 1
RETURN_DECISION_DAYS = 1
VERIFY_DAYS = 3
CLOSE_DAYS = 2
# Joint-operation proposals: this many departments, or a repeat within this many days.
JOINT_MIN_DEPARTMENTS = 3
REPEAT_WINDOW_DAYS = 730

LEAD_FIELDS = [
    "status",
    "institution",
    "place_name",
    "address",
    "region",
    "owner_department",
    "due_at",
    "merged_into",
    "dismiss_reason",
    "closure_reason",
    "reopen_count",
]
ORDER_FIELDS = [
    "status",
    "department",
    "role",
    "sign_due",
    "reply_due",
    "redo_count",
    "proposed_department",
    "return_reason",
    "reassigned_to",
    "urge_count",
    "escalation_level",
    "is_supervised",
]


# ---------------------------------------------------------------------------- checks and helpers


def _now() -> datetime:
    return timezone.now()


def _text(value: str, field: str, *, required: bool = True, limit: int = 500) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ServiceError(_("Please give a reason."), field=field)
    if len(value) > limit:
        raise ServiceError(
            _("At most %(n)d characters, please.") % {"n": limit},
            field=field,
        )
    return value


def _require_triage(actor: Any, lead: Lead) -> None:
    """The bureau of the lead's place, or the system clock."""
    if actor is None:
        return
    if (
        not can(actor, Capability.LEAD_TRIAGE)
        or not leads_triaged_by(actor).filter(pk=lead.pk).exists()
    ):
        raise NotAllowed(_("Only the bureau of this lead's place may do this."))


def _require_handler(actor: Any, order: WorkOrder) -> None:
    """An officer of the order's department, in the department's jurisdiction."""
    if (
        not can(actor, Capability.ORDER_HANDLE)
        or not work_orders_handled_by(actor).filter(pk=order.pk).exists()
    ):
        raise NotAllowed(_("Only an officer of this department may do this."))


def _lock_lead(lead: Lead) -> Lead:
    return Lead.objects.select_for_update().get(pk=lead.pk)


def _lock_order(order: WorkOrder) -> tuple[Lead, WorkOrder]:
    # Lead first, then the order: the one lock order every service uses.
    lead = _lock_lead(Lead(pk=WorkOrder.objects.values_list("lead_id", flat=True).get(pk=order.pk)))
    return lead, WorkOrder.objects.select_for_update().get(pk=order.pk)


def _move_lead(lead: Lead, target: str) -> None:
    if lead.status != target and not lead_may_move(lead.status, target):
        raise ServiceError(
            _("A lead that is “%(a)s” cannot become “%(b)s”.")
            % {"a": lead.get_status_display(), "b": LeadStatus(target).label}
        )
    lead.status = target


def _move_order(order: WorkOrder, target: str) -> None:
    if not order_may_move(order.status, target):
        raise ServiceError(
            _("This work order is “%(a)s”; it cannot become “%(b)s”. Reload the page.")
            % {"a": order.get_status_display(), "b": OrderStatus(target).label}
        )
    order.status = target


def _bureau(region: Region) -> Department:
    bureau = bureau_for(region)
    if bureau is None:
        raise ServiceError(_("No education bureau covers this place; ask an administrator."))
    return bureau


def _deadline_days(lead: Lead) -> tuple[int, int]:
    """Working days to sign and to reply: the most urgent group among the lead's types."""
    groups = [t.group for t in lead.violation_types.select_related("group")]
    if not groups:
        return 1, 7
    return min(g.sign_days for g in groups), min(g.reply_days for g in groups)


def _lead_event(actor: Any, verb: str, lead: Lead, before: dict[str, Any], **extra: Any) -> None:
    after = snapshot(lead, LEAD_FIELDS)
    after.update(extra)
    event_record(actor=actor, verb=verb, obj=lead, before=before, after=after)


def _order_event(
    actor: Any, verb: str, order: WorkOrder, before: dict[str, Any] | None, **extra: Any
) -> None:
    after = snapshot(order, ORDER_FIELDS)
    after["lead"] = order.lead_id
    after.update(extra)
    event_record(actor=actor, verb=verb, obj=order, before=before, after=after)


def _officers_of(department_id: int, region: Region) -> list[User]:
    paths = ancestor_paths(region.path)
    return list(
        User.objects.filter(
            is_active=True,
            assignments__is_active=True,
            assignments__role=Role.OFFICER,
            assignments__department_id=department_id,
            assignments__region__path__in=paths,
        ).distinct()
    )


def _supervisors_of(region: Region) -> list[User]:
    return list(people_over(region, [Role.SUPERVISOR]))


def _area_responsibles_of(lead: Lead) -> list[User]:
    if not lead.area_id:
        return []
    return list(
        User.objects.filter(
            is_active=True,
            assignments__is_active=True,
            assignments__role=Role.AREA_RESPONSIBLE,
            assignments__area_id=lead.area_id,
        ).distinct()
    )


def _notify_later(
    users: Iterable[User], *, kind: str, title: str, url: str, key: str, body: str = ""
) -> None:
    """Tell people after the change commits (a refused or rolled-back change tells nobody)."""
    from bihuan.notifications.services import notify

    people = list(users)

    def send() -> None:
        notify(users=people, kind=kind, title=title[:200], body=body, url=url, key=key[:200])

    transaction.on_commit(send)


def _save_order_move(
    actor: Any,
    verb: str,
    lead: Lead,
    order: WorkOrder,
    before: dict[str, Any],
    now: datetime,
    **extra: Any,
) -> None:
    """Save a moved order, bring its lead's status, owner and deadline along, record the move."""
    order.save()
    _follow_orders(actor, lead, now=now, cause=verb)
    _order_event(actor, verb, order, before, **extra)


def _follow_orders(actor: Any, lead: Lead, *, now: datetime, cause: str) -> None:
    """Bring a lead along with its orders and save it; a change of its own is logged on it."""
    before = snapshot(lead, LEAD_FIELDS)
    refresh_lead(lead, now=now)
    lead.save()
    # check_loop compares each lead's last logged status with its row: nothing changes unlogged.
    if snapshot(lead, LEAD_FIELDS) != before:
        _lead_event(actor, "lead.progressed", lead, before, cause=cause)


def _tell_officers(
    order: WorkOrder, lead: Lead, *, kind: str, title: str, key: str, body: str = ""
) -> None:
    """Tell the officers of the order's department about it, after commit."""
    _notify_later(
        _officers_of(order.department_id, lead.region),
        kind=kind,
        title=title,
        body=body,
        url=_order_url(order),
        key=key,
    )


def _tell_bureau(lead: Lead, *, kind: str, title: str, key: str, body: str = "") -> None:
    """Tell the supervisors whose places hold the lead about it, after commit."""
    _notify_later(
        _supervisors_of(lead.region),
        kind=kind,
        title=title,
        body=body,
        url=_lead_url(lead),
        key=key,
    )


def _lead_url(lead: Lead) -> str:
    return f"/leads/{lead.pk}/"


def _order_url(order: WorkOrder) -> str:
    return f"/leads/orders/{order.pk}/"


def refresh_lead(lead: Lead, *, now: datetime | None = None) -> None:
    """Set a dispatched lead's status, owner and deadline from its orders (lead already locked)."""
    now = now or _now()
    orders = list(lead.work_orders.filter(status__in=ORDER_LIVE).order_by("pk"))
    if lead.status not in (
        LeadStatus.DISPATCHED,
        LeadStatus.REPLIED,
        LeadStatus.VERIFIED,
    ):
        return
    target = lead_status_for_orders([o.status for o in orders])
    if target == LeadStatus.ACCEPTED:  # every order withdrawn: cannot happen through services
        raise ServiceError(_("A dispatched lead must keep at least one work order."))
    if target != lead.status:
        _move_lead(lead, target)
    bureau = _bureau(lead.region)
    returned = [o for o in orders if o.status == OrderStatus.RETURN_REQUESTED]
    working = [o for o in orders if o.status in (OrderStatus.AWAITING, OrderStatus.SIGNED)]
    if target == LeadStatus.DISPATCHED and returned:
        lead.owner_department = bureau
        first = min(o.return_requested_at or now for o in returned)
        lead.due_at = add_working_days(first, RETURN_DECISION_DAYS)
    elif target == LeadStatus.DISPATCHED and working:
        earliest = min(working, key=lambda o: (o.current_due, o.pk))
        lead.owner_department_id = earliest.department_id
        lead.due_at = earliest.current_due
    elif target == LeadStatus.REPLIED:
        lead.owner_department = bureau
        last = max(o.replied_at or now for o in orders if o.status == OrderStatus.REPLIED)
        lead.due_at = add_working_days(last, VERIFY_DAYS)
    elif target == LeadStatus.VERIFIED:
        lead.owner_department = bureau
        last = max(o.accepted_at or now for o in orders)
        lead.due_at = add_working_days(last, CLOSE_DAYS)


# ---------------------------------------------------------------------------- leads


def _place_lead(
    region: Region | None, institution: Institution | None, sentinel: Sentinel | None
) -> Region:
    if institution is not None:
        return institution.region
    if sentinel is not None and region is None:
        return sentinel.region
    if region is None:
        raise ServiceError(_("Say where the lead is: an institution or a place."), field="region")
    return region


def _new_reference(lead: Lead) -> str:
    local = timezone.localtime(lead.created_at)
    return f"XS{local:%Y}{lead.pk:07d}"


@transaction.atomic
def lead_create(
    *,
    actor: Any,
    source: str,
    description: str,
    region: Region | None = None,
    institution: Institution | None = None,
    place_name: str = "",
    address: str = "",
    latitude: Decimal | float | None = None,
    longitude: Decimal | float | None = None,
    sentinel: Sentinel | None = None,
    reporter_name: str = "",
    reporter_phone: str = "",
    is_anonymous: bool = False,
    violation_types: Sequence[ViolationType] = (),
    files: Sequence[Any] = (),
) -> Lead:
    """Record a new lead; the bureau of its place owns it and must accept it within TRIAGE_DAYS."""
    if source not in LeadSource.values:
        raise ServiceError(_("Unknown source of a lead."), field="source")
    description = _text(description, "description", limit=4000)
    if actor is not None:
        if not can(actor, Capability.LEAD_REPORT):
            raise NotAllowed(_("Your roles do not allow reporting leads."))
        scope = scope_of(actor)
        if scope.has(Role.SCHOOL_SENTINEL) and not scope.has(Role.SUPERVISOR):
            if sentinel is None or sentinel.pk not in scope.sentinel_ids:
                raise NotAllowed(_("A school sentinel reports for their own school."))
            source = LeadSource.SCHOOL
    if institution is not None and institution.merged_into_id:
        institution = institution.merged_into
    place_name = _text(place_name, "place_name", required=False, limit=200)
    address = _text(address, "address", required=False, limit=300)
    if institution is None and not (place_name or address):
        raise ServiceError(
            _("Name the institution, or give the place's name or address."), field="place_name"
        )
    lat, lng = _coordinates(latitude, longitude)
    lead_region = _place_lead(region, institution, sentinel)
    # Staff report inside their own places; a school sentinel hears of places anywhere (students
    # live all over town) and the bureau of that place triages it.
    if actor is not None and source != LeadSource.SCHOOL:
        scope = scope_of(actor)
        inside = Region.objects.filter(pk=lead_region.pk).filter(scope.region_q()).exists()
        if not inside:
            raise NotAllowed(_("This place is outside your area."))
    checked = evidence.check_files(list(files))
    if institution is None:
        institution = _auto_link(place_name, address, lead_region)
        if institution is not None:
            lead_region = institution.region
    now = _now()
    lead = Lead(
        reference=uuid.uuid4().hex[:20],
        source=source,
        description=description,
        institution=institution,
        place_name=place_name,
        address=address,
        latitude=lat,
        longitude=lng,
        region=lead_region,
        area=(institution.area if institution else None) or _area_of(lead_region),
        sentinel=sentinel,
        reporter=actor if getattr(actor, "is_authenticated", False) else None,
        reporter_name=_text(reporter_name, "reporter_name", required=False, limit=50),
        reporter_phone=_text(reporter_phone, "reporter_phone", required=False, limit=20),
        is_anonymous=is_anonymous,
        owner_department=_bureau(lead_region),
        due_at=add_working_days(now, TRIAGE_DAYS),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if is_anonymous:
        lead.reporter_name = lead.reporter_phone = ""
    lead.save()
    lead.reference = _new_reference(lead)
    lead.save(update_fields=["reference"])
    if violation_types:
        lead.violation_types.set(_active_types(violation_types))
    evidence.store(checked, lead=lead, actor=actor)
    _lead_event(
        actor,
        "lead.created",
        lead,
        {},
        source=source,
        types=sorted(t.code for t in lead.violation_types.all()),
        files=len(checked),
    )
    _tell_bureau(
        lead,
        kind="lead.created",
        title=_("New lead %(ref)s to triage") % {"ref": lead.reference},
        key=f"lead.created:{lead.pk}",
    )
    webhooks.emit("lead.created", lead, webhooks.lead_payload(lead))  # webhooks hook (issue 7)
    return lead


def _coordinates(lat: Any, lng: Any) -> tuple[Decimal | None, Decimal | None]:
    if lat in (None, "") and lng in (None, ""):
        return None, None
    try:
        flat, flng = float(lat), float(lng)
    except (TypeError, ValueError):
        raise ServiceError(_("Coordinates must be numbers."), field="latitude") from None
    if not (-90 <= flat <= 90 and -180 <= flng <= 180):
        raise ServiceError(_("Coordinates are out of range."), field="latitude")
    return Decimal(f"{flat:.6f}"), Decimal(f"{flng:.6f}")


def _area_of(region: Region) -> Any:
    return region.community_areas.filter(is_active=True).first()


def _active_types(types: Sequence[ViolationType]) -> list[ViolationType]:
    ids = {t.pk for t in types}
    found = list(ViolationType.objects.filter(pk__in=ids, is_active=True))
    if len(found) != len(ids):
        raise ServiceError(_("Choose violation types from the current list."), field="types")
    return found


def _auto_link(place_name: str, address: str, region: Region) -> Institution | None:
    """An unknown place that the registry's matcher recognises for certain becomes that record."""
    from bihuan.registry.matching import MatchInput, find_matches

    if not place_name:
        return None
    community_id = region.pk if region.level == "community" else None
    inp = MatchInput.from_fields(name=place_name, address=address, community_id=community_id)
    candidates = Institution.objects.filter(
        region__path__startswith=ancestor_paths(region.path)[min(2, region.depth)]
        if region.depth >= 2
        else region.path
    )
    matches = find_matches(inp, candidates, limit=2)
    certain = [inst for inst, score in matches if score.is_auto_link]
    # Two certain matches mean the matcher cannot tell: leave it to the bureau.
    return certain[0] if len(certain) == 1 else None


@transaction.atomic
def lead_accept(
    *,
    actor: Any,
    lead: Lead,
    violation_types: Sequence[ViolationType],
    institution: Institution | None = None,
) -> Lead:
    """受理: classify the lead by violation type (and link it); it must be dispatched next."""
    lead = _lock_lead(lead)
    _require_triage(actor, lead)
    before = snapshot(lead, LEAD_FIELDS)
    _move_lead(lead, LeadStatus.ACCEPTED)
    types = _active_types(violation_types)
    if not types:
        raise ServiceError(_("Choose at least one violation type."), field="types")
    if institution is not None:
        _link(actor, lead, institution)
    lead.accepted_at = _now()
    lead.owner_department = _bureau(lead.region)
    lead.due_at = add_working_days(lead.accepted_at, DISPATCH_DAYS)
    lead.save()
    lead.violation_types.set(types)
    _lead_event(actor, "lead.accepted", lead, before, types=sorted(t.code for t in types))
    return lead


@transaction.atomic
def lead_classify(*, actor: Any, lead: Lead, violation_types: Sequence[ViolationType]) -> Lead:
    """Change the violation types of a lead that was not dispatched yet."""
    lead = _lock_lead(lead)
    _require_triage(actor, lead)
    if lead.status not in (LeadStatus.NEW, LeadStatus.ACCEPTED):
        raise ServiceError(_("Violation types are fixed once a lead is dispatched."))
    types = _active_types(violation_types)
    before_codes = sorted(t.code for t in lead.violation_types.all())
    lead.violation_types.set(types)
    event_record(
        actor=actor,
        verb="lead.classified",
        obj=lead,
        before={"types": before_codes, "status": lead.status},
        after={"types": sorted(t.code for t in types), "status": lead.status},
    )
    return lead


def _link(actor: Any, lead: Lead, institution: Institution) -> None:
    from bihuan.registry.selectors import institutions_visible_to

    if institution.merged_into is not None:
        institution = institution.merged_into
    if actor is not None and not institutions_visible_to(actor).filter(pk=institution.pk).exists():
        raise NotAllowed(_("This institution is outside your area."))
    lead.institution = institution
    lead.region = institution.region
    lead.area = institution.area or _area_of(institution.region)


@transaction.atomic
def lead_link_institution(*, actor: Any, lead: Lead, institution: Institution) -> Lead:
    """Tie a lead to the registry record of the place it is about."""
    lead = _lock_lead(lead)
    _require_triage(actor, lead)
    if lead.status not in LEAD_OPEN:
        raise ServiceError(_("A closed lead cannot be changed; reopen it first."))
    before = snapshot(lead, LEAD_FIELDS)
    _link(actor, lead, institution)
    lead.save()
    _lead_event(actor, "lead.linked", lead, before)
    return lead


@transaction.atomic
def lead_dismiss(*, actor: Any, lead: Lead, reason: str) -> Lead:
    """Dismiss a lead that is not a matter for supervision, saying why."""
    reason = _text(reason, "reason")
    lead = _lock_lead(lead)
    _require_triage(actor, lead)
    before = snapshot(lead, LEAD_FIELDS)
    _move_lead(lead, LeadStatus.DISMISSED)
    lead.dismiss_reason = reason
    lead.owner_department = None
    lead.due_at = None
    lead.closed_at = _now()
    lead.save()
    _lead_event(actor, "lead.dismissed", lead, before)
    if lead.reporter_id:
        _notify_later(
            [lead.reporter],  # type: ignore[list-item]
            kind="lead.dismissed",
            title=_("Lead %(ref)s was dismissed") % {"ref": lead.reference},
            url=_lead_url(lead),
            key=f"lead.dismissed:{lead.pk}:{lead.closed_at.isoformat()}",
        )
    return lead


@transaction.atomic
def lead_merge(*, actor: Any, lead: Lead, into: Lead) -> Lead:
    """Merge a duplicate into the lead that carries on (并单); its types and files go along."""
    if lead.pk == into.pk:
        raise ServiceError(_("A lead cannot be merged into itself."))
    first, second = sorted([lead.pk, into.pk])
    locked = {
        row.pk: row for row in Lead.objects.select_for_update().filter(pk__in=[first, second])
    }
    lead, into = locked[lead.pk], locked[into.pk]
    _require_triage(actor, lead)
    _require_triage(actor, into)
    if into.status not in LEAD_OPEN:
        raise ServiceError(_("Merge into a lead that is still open."))
    if into.merged_into_id:
        raise ServiceError(_("That lead was itself merged; merge into the one it went to."))
    before = snapshot(lead, LEAD_FIELDS)
    _move_lead(lead, LeadStatus.MERGED)
    lead.merged_into = into
    lead.owner_department = None
    lead.due_at = None
    lead.closed_at = _now()
    lead.save()
    lead.attachments.update(lead=into)
    into.violation_types.add(*lead.violation_types.all())
    _lead_event(actor, "lead.merged", lead, before, into=into.pk)
    event_record(
        actor=actor,
        verb="lead.merged_from",
        obj=into,
        after={"status": into.status, "from": lead.pk},
    )
    return lead


@transaction.atomic
def lead_dispatch(*, actor: Any, lead: Lead) -> Lead:
    """派单: route the accepted lead and create one work order per department."""
    lead = _lock_lead(lead)
    _require_triage(actor, lead)
    if lead.status != LeadStatus.ACCEPTED:
        raise ServiceError(
            _("Only an accepted lead can be dispatched; it is “%(s)s”. Reload the page.")
            % {"s": lead.get_status_display()}
        )
    types = list(lead.violation_types.select_related("group"))
    if not types:
        raise ServiceError(_("Classify the lead before dispatching it."))
    category = lead.institution.category if lead.institution else Category.NONE
    type_specs, rule_specs, dept_specs = routing_inputs(types, lead.region)
    result = routing.route(
        type_specs, rule_specs, dept_specs, category=category, region_path=lead.region.path
    )
    if result.lead is None:
        raise ServiceError(_("No department covers this place; ask an administrator."))
    before = snapshot(lead, LEAD_FIELDS)
    now = _now()
    sign_days, _reply = _deadline_days(lead)
    orders = []
    for routed in result.all:
        orders.append(
            WorkOrder.objects.create(
                lead=lead,
                department_id=routed.department_id,
                role=routed.role,
                reason=explain(routed.why)[:300],
                sign_due=add_working_days(now, sign_days),
            )
        )
    _move_lead(lead, LeadStatus.DISPATCHED)
    lead.dispatched_at = now
    lead.routing = {
        "category": category,
        "departments": [
            {"department": r.department_id, "role": r.role, "why": [w.__dict__ for w in r.why]}
            for r in result.all
        ],
        "left_out": [w.__dict__ for w in result.left_out],
    }
    refresh_lead(lead, now=now)
    lead.save()
    _lead_event(actor, "lead.dispatched", lead, before, orders=[o.pk for o in orders])
    for order in orders:
        _order_event(actor, "work_order.created", order, None, reason=order.reason)
        _notify_later(
            _officers_of(order.department_id, lead.region),
            kind="work_order.created",
            title=_("New work order %(ref)s to sign") % {"ref": lead.reference},
            url=_order_url(order),
            key=f"work_order.created:{order.pk}",
        )
    joint_propose(lead=lead, orders=orders, types=types)
    webhooks.emit("lead.dispatched", lead, webhooks.lead_payload(lead))  # webhooks hook (issue 7)
    return lead


def explain(whys: Iterable[routing.Why]) -> str:
    """Why a department was chosen, in the reader's language, for the order's record."""
    parts = []
    for why in whys:
        if why.basis == "rule":
            text = _("%(code)s: routing rule #%(rule)s") % {
                "code": why.type_code,
                "rule": why.rule_id,
            }
        elif why.basis == "fallback":
            text = _("%(code)s: no lead department of that kind here, so the education bureau") % {
                "code": why.type_code
            }
        else:
            text = _("%(code)s: taxonomy default") % {"code": why.type_code}
        role = _("lead") if why.as_lead_of_type else _("assisting")
        parts.append(f"{text} ({role})")
    return "; ".join(parts)


@transaction.atomic
def lead_close(*, actor: Any, lead: Lead, reason: str, note: str = "") -> Lead:
    """办结: close a lead whose every work order the bureau accepted."""
    if reason not in ClosureReason.values:
        raise ServiceError(_("Choose why the lead is closed."), field="reason")
    note = _text(note, "note", required=False)
    lead = _lock_lead(lead)
    _require_triage(actor, lead)
    if lead.status != LeadStatus.VERIFIED:
        raise ServiceError(_("A lead is closed once the bureau has accepted every work order."))
    before = snapshot(lead, LEAD_FIELDS)
    _move_lead(lead, LeadStatus.CLOSED)
    lead.closure_reason = reason
    lead.closure_note = note
    lead.owner_department = None
    lead.due_at = None
    lead.closed_at = _now()
    lead.save()
    _lead_event(actor, "lead.closed", lead, before)
    webhooks.emit("lead.closed", lead, webhooks.lead_payload(lead))  # webhooks hook (issue 7)
    return lead


@transaction.atomic
def lead_reopen(*, actor: Any, lead: Lead, reason: str) -> Lead:
    """Reopen a closed lead (its orders go back to the departments) or a dismissed one."""
    reason = _text(reason, "reason")
    lead = _lock_lead(lead)
    _require_triage(actor, lead)
    before = snapshot(lead, LEAD_FIELDS)
    now = _now()
    if lead.status == LeadStatus.DISMISSED:
        _move_lead(lead, LeadStatus.ACCEPTED)
        lead.dismiss_reason = ""
        lead.owner_department = _bureau(lead.region)
        lead.due_at = add_working_days(now, DISPATCH_DAYS)
    elif lead.status == LeadStatus.CLOSED:
        _move_lead(lead, LeadStatus.DISPATCHED)
        _sign, reply_days = _deadline_days(lead)
        for order in lead.work_orders.select_for_update().filter(status=OrderStatus.ACCEPTED):
            order_before = snapshot(order, ORDER_FIELDS)
            _move_order(order, OrderStatus.SIGNED)
            order.redo_count += 1
            order.redo_reason = reason
            order.reply_due = add_working_days(now, reply_days)
            order.accepted_at = None
            order.save()
            _order_event(actor, "work_order.reopened", order, order_before, note=reason)
        lead.closure_reason = ""
        refresh_lead(lead, now=now)
    else:
        raise ServiceError(_("Only a closed or dismissed lead can be reopened."))
    lead.reopen_count += 1
    lead.closed_at = None
    lead.save()
    _lead_event(actor, "lead.reopened", lead, before, note=reason)
    return lead


@transaction.atomic
def attachment_add(
    *, actor: Any, lead: Lead, files: Sequence[Any], work_order: WorkOrder | None = None
) -> int:
    """Add evidence to an open lead (the bureau) or to an order's reply (its department)."""
    lead = _lock_lead(lead)
    if work_order is not None:
        if work_order.lead_id != lead.pk:
            raise NotAllowed(_("Only an officer of this department may do this."))
        _require_handler(actor, work_order)
    else:
        _require_triage(actor, lead)
    if lead.status not in LEAD_OPEN:
        raise ServiceError(_("A closed lead cannot be changed; reopen it first."))
    checked = evidence.check_files(list(files))
    if not checked:
        raise ServiceError(_("Choose a file to attach."), field="files")
    saved = evidence.store(checked, lead=lead, actor=actor, work_order=work_order)
    event_record(
        actor=actor,
        verb="lead.evidence_added",
        obj=lead,
        after={"status": lead.status, "files": [a.sha256 for a in saved]},
    )
    return len(saved)


# ---------------------------------------------------------------------------- work orders


@transaction.atomic
def work_order_sign(*, actor: Any, order: WorkOrder) -> WorkOrder:
    """签收: the department takes the order; the reply clock starts."""
    lead, order = _lock_order(order)
    _require_handler(actor, order)
    # The other moves into "signed" (redo, refused return, reopening) are the bureau's.
    if order.status != OrderStatus.AWAITING:
        raise ServiceError(
            _("Only an order awaiting signature can be signed; it is “%(s)s”. Reload the page.")
            % {"s": order.get_status_display()}
        )
    before = snapshot(order, ORDER_FIELDS)
    _move_order(order, OrderStatus.SIGNED)
    now = _now()
    _sign, reply_days = _deadline_days(lead)
    order.signed_at = now
    order.signed_by = actor
    order.reply_due = add_working_days(now, reply_days)
    _save_order_move(actor, "work_order.signed", lead, order, before, now)
    return order


@transaction.atomic
def work_order_reply(
    *, actor: Any, order: WorkOrder, reply: str, files: Sequence[Any] = ()
) -> WorkOrder:
    """反馈: the department reports what it did, with evidence."""
    reply = _text(reply, "reply", limit=4000)
    lead, order = _lock_order(order)
    _require_handler(actor, order)
    checked = evidence.check_files(list(files))
    before = snapshot(order, ORDER_FIELDS)
    _move_order(order, OrderStatus.REPLIED)
    now = _now()
    order.reply = reply
    order.replied_at = now
    order.save()
    evidence.store(checked, lead=lead, actor=actor, work_order=order)
    _follow_orders(actor, lead, now=now, cause="work_order.replied")
    _order_event(actor, "work_order.replied", order, before, files=len(checked))
    _tell_bureau(
        lead,
        kind="work_order.replied",
        title=_("%(dept)s replied on %(ref)s")
        % {"dept": order.department.short_name, "ref": lead.reference},
        key=f"work_order.replied:{order.pk}:{now.isoformat()}",
    )
    # webhooks hook (issue 7)
    webhooks.emit("work_order.replied", order, webhooks.order_payload(order))
    return order


@transaction.atomic
def work_order_accept(*, actor: Any, order: WorkOrder) -> WorkOrder:
    """核查通过: the bureau accepts a department's reply."""
    lead, order = _lock_order(order)
    _require_triage(actor, lead)
    before = snapshot(order, ORDER_FIELDS)
    _move_order(order, OrderStatus.ACCEPTED)
    now = _now()
    order.accepted_at = now
    _save_order_move(actor, "work_order.accepted", lead, order, before, now)
    return order


@transaction.atomic
def work_order_redo(*, actor: Any, order: WorkOrder, reason: str) -> WorkOrder:
    """重办: the bureau sends a reply back; the department must act again within a new deadline."""
    reason = _text(reason, "reason")
    lead, order = _lock_order(order)
    _require_triage(actor, lead)
    if order.status != OrderStatus.REPLIED:
        raise ServiceError(_("Only a reply can be sent back for redo."))
    before = snapshot(order, ORDER_FIELDS)
    _move_order(order, OrderStatus.SIGNED)
    now = _now()
    _sign, reply_days = _deadline_days(lead)
    order.redo_count += 1
    order.redo_reason = reason
    order.reply_due = add_working_days(now, reply_days)
    _save_order_move(actor, "work_order.redo", lead, order, before, now, note=reason)
    _tell_officers(
        order,
        lead,
        kind="work_order.redo",
        title=_("Work order %(ref)s sent back for redo") % {"ref": lead.reference},
        body=reason,
        key=f"work_order.redo:{order.pk}:{order.redo_count}",
    )
    return order


@transaction.atomic
def work_order_return(
    *, actor: Any, order: WorkOrder, proposed_department: Department | None, reason: str
) -> WorkOrder:
    """退单: a department says the order is not its business, naming who it believes responsible."""
    if proposed_department is None:
        raise ServiceError(
            _("Name the department you believe is responsible."), field="proposed_department"
        )
    reason = _text(reason, "reason")
    lead, order = _lock_order(order)
    _require_handler(actor, order)
    if proposed_department.pk == order.department_id:
        raise ServiceError(_("Name another department than your own."), field="proposed_department")
    if not proposed_department.is_active or not lead.region.path.startswith(
        proposed_department.jurisdiction.path
    ):
        raise ServiceError(
            _("That department does not cover this place."), field="proposed_department"
        )
    before = snapshot(order, ORDER_FIELDS)
    previous = order.status
    _move_order(order, OrderStatus.RETURN_REQUESTED)
    now = _now()
    order.status_before_return = previous
    order.proposed_department = proposed_department
    order.return_reason = reason
    order.return_requested_at = now
    _save_order_move(actor, "work_order.return_requested", lead, order, before, now, note=reason)
    _tell_bureau(
        lead,
        kind="work_order.return_requested",
        title=_("%(dept)s returned work order %(ref)s")
        % {"dept": order.department.short_name, "ref": lead.reference},
        body=reason,
        key=f"work_order.return_requested:{order.pk}:{now.isoformat()}",
    )
    return order


@transaction.atomic
def work_order_refuse_return(*, actor: Any, order: WorkOrder, note: str) -> WorkOrder:
    """审定: the bureau refuses a return; the order goes back to the department as it was."""
    note = _text(note, "note")
    lead, order = _lock_order(order)
    _require_triage(actor, lead)
    if order.status != OrderStatus.RETURN_REQUESTED:
        raise ServiceError(_("This work order is not awaiting a decision on its return."))
    before = snapshot(order, ORDER_FIELDS)
    _move_order(order, order.status_before_return or OrderStatus.AWAITING)
    now = _now()
    order.proposed_department = None
    order.return_reason = ""
    order.return_requested_at = None
    order.status_before_return = ""
    # The department lost no time by returning: its clock restarts from the refusal.
    sign_days, reply_days = _deadline_days(lead)
    if order.status == OrderStatus.AWAITING:
        order.sign_due = add_working_days(now, sign_days)
    else:
        order.reply_due = add_working_days(now, reply_days)
    _save_order_move(actor, "work_order.return_refused", lead, order, before, now, note=note)
    _tell_officers(
        order,
        lead,
        kind="work_order.return_refused",
        title=_("The return of work order %(ref)s was refused") % {"ref": lead.reference},
        body=note,
        key=f"work_order.return_refused:{order.pk}:{now.isoformat()}",
    )
    return order


@transaction.atomic
def work_order_reassign(
    *, actor: Any, order: WorkOrder, department: Department, note: str = ""
) -> WorkOrder:
    """改派: the bureau moves an order (returned, or not yet signed) to another department."""
    note = _text(note, "note", required=False)
    lead, order = _lock_order(order)
    _require_triage(actor, lead)
    if order.status not in (OrderStatus.RETURN_REQUESTED, OrderStatus.AWAITING):
        raise ServiceError(_("Only a returned or unsigned work order can be reassigned."))
    if department.pk == order.department_id:
        raise ServiceError(_("Choose another department."), field="department")
    if not department.is_active or not lead.region.path.startswith(department.jurisdiction.path):
        raise ServiceError(_("That department does not cover this place."), field="department")
    if lead.work_orders.filter(department=department, status__in=ORDER_LIVE).exists():
        raise ServiceError(
            _("%(dept)s already has a work order on this lead.") % {"dept": department.short_name},
            field="department",
        )
    before = snapshot(order, ORDER_FIELDS)
    now = _now()
    sign_days, _reply = _deadline_days(lead)
    reason = _("Reassigned from %(dept)s") % {"dept": order.department.short_name}
    if order.return_reason:
        reason += f": {order.return_reason}"
    _move_order(order, OrderStatus.REASSIGNED)
    # The database holds one live lead order per lead, and a reassigned order must name its
    # successor: the successor is born outside the live set, then takes over once the old one left.
    successor = WorkOrder.objects.create(
        lead=lead,
        department=department,
        role=order.role,
        status=OrderStatus.WITHDRAWN,
        reason=reason[:300],
        sign_due=add_working_days(now, sign_days),
    )
    order.reassigned_to = successor
    order.save()
    successor.status = OrderStatus.AWAITING
    successor.save(update_fields=["status", "updated_at"])
    _follow_orders(actor, lead, now=now, cause="work_order.reassigned")
    _order_event(actor, "work_order.reassigned", order, before, to=successor.pk, note=note)
    # A joint operation still waiting for the bureau follows the lead's departments.
    for operation in lead.joint_operations.filter(status=JointStatus.PROPOSED):
        operation.departments.remove(order.department_id)
        operation.departments.add(department)
        event_record(
            actor=actor,
            verb="joint.departments_changed",
            obj=operation,
            after={
                "status": operation.status,
                "departments": sorted(operation.departments.values_list("pk", flat=True)),
            },
        )
    _order_event(actor, "work_order.created", successor, None, reason=successor.reason)
    _notify_later(
        _officers_of(department.pk, lead.region),
        kind="work_order.created",
        title=_("New work order %(ref)s to sign") % {"ref": lead.reference},
        url=_order_url(successor),
        key=f"work_order.created:{successor.pk}",
    )
    return successor


@transaction.atomic
def work_order_urge(*, actor: Any, order: WorkOrder, note: str = "", due_key: str = "") -> Reminder:
    """催办: remind the department of an open order (the bureau, or the clock when overdue)."""
    note = _text(note, "note", required=False)
    lead, order = _lock_order(order)
    _require_triage(actor, lead)
    if order.status not in (OrderStatus.AWAITING, OrderStatus.SIGNED):
        raise ServiceError(_("Only an order the department still has to act on can be urged."))
    before = snapshot(order, ORDER_FIELDS)
    order.urge_count += 1
    order.save(update_fields=["urge_count", "updated_at"])
    reminder = Reminder.objects.create(
        work_order=order,
        kind=ReminderKind.URGE,
        note=note,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        due_key=due_key,
    )
    _order_event(actor, "work_order.urged", order, before, note=note)
    _tell_officers(
        order,
        lead,
        kind="work_order.urged",
        title=_("Reminder: work order %(ref)s") % {"ref": lead.reference},
        body=note,
        key=f"work_order.urged:{order.pk}:{reminder.pk}",
    )
    return reminder


@transaction.atomic
def work_order_supervise(
    *, actor: Any, order: WorkOrder, note: str = "", due_key: str = ""
) -> Reminder:
    """督办: put an order under supervision and tell the area's responsible parties and above."""
    note = _text(note, "note", required=actor is not None)
    lead, order = _lock_order(order)
    _require_triage(actor, lead)
    if order.status not in (OrderStatus.AWAITING, OrderStatus.SIGNED):
        raise ServiceError(_("Only an order the department still has to act on can be supervised."))
    before = snapshot(order, ORDER_FIELDS)
    kind = ReminderKind.SUPERVISE if actor is not None else ReminderKind.ESCALATE
    order.is_supervised = True
    order.escalation_level += 1
    order.save(update_fields=["is_supervised", "escalation_level", "updated_at"])
    reminder = Reminder.objects.create(
        work_order=order,
        kind=kind,
        note=note,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        due_key=due_key,
    )
    _order_event(
        actor,
        "work_order.escalated" if actor is None else "work_order.supervised",
        order,
        before,
        note=note,
    )
    people = set(_officers_of(order.department_id, lead.region))
    people |= set(_area_responsibles_of(lead)) | set(_supervisors_of(lead.region))
    _notify_later(
        people,
        kind="work_order.supervised",
        title=_("Under supervision: work order %(ref)s of %(dept)s")
        % {"ref": lead.reference, "dept": order.department.short_name},
        body=note,
        url=_lead_url(lead),
        key=f"work_order.supervised:{order.pk}:{reminder.pk}",
    )
    return reminder


@transaction.atomic
def extension_request(*, actor: Any, order: WorkOrder, days: int, reason: str) -> ExtensionRequest:
    """延期: a department asks for more working days to reply, before its deadline."""
    reason = _text(reason, "reason")
    if not isinstance(days, int) or not 1 <= days <= 30:
        raise ServiceError(_("Ask for 1 to 30 working days."), field="days")
    lead, order = _lock_order(order)
    _require_handler(actor, order)
    if order.status != OrderStatus.SIGNED:
        raise ServiceError(_("An extension is asked for a signed order that is not replied yet."))
    if order.extensions.filter(status=ExtensionStatus.PENDING).exists():
        raise ServiceError(_("An extension request for this order is already waiting."))
    request = ExtensionRequest.objects.create(
        work_order=order, days=days, reason=reason, requested_by=actor
    )
    event_record(
        actor=actor,
        verb="extension.requested",
        obj=request,
        after={"status": request.status, "days": days, "work_order": order.pk},
    )
    _tell_bureau(
        lead,
        kind="extension.requested",
        title=_("%(dept)s asks %(days)d more working days on %(ref)s")
        % {"dept": order.department.short_name, "days": days, "ref": lead.reference},
        body=reason,
        key=f"extension.requested:{request.pk}",
    )
    return request


@transaction.atomic
def extension_decide(
    *, actor: Any, request: ExtensionRequest, approve: bool, note: str = ""
) -> ExtensionRequest:
    """The bureau approves (the reply deadline moves) or refuses an extension request."""
    note = _text(note, "note", required=not approve)
    lead, order = _lock_order(request.work_order)
    _require_triage(actor, lead)
    request = ExtensionRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != ExtensionStatus.PENDING:
        raise ServiceError(_("This request was already decided."))
    now = _now()
    request.decided_by = actor
    request.decided_at = now
    request.decision_note = note
    order_before = snapshot(order, ORDER_FIELDS)
    if approve:
        if order.status != OrderStatus.SIGNED or order.reply_due is None:
            raise ServiceError(_("The order is no longer waiting for a reply."))
        request.status = ExtensionStatus.APPROVED
        request.previous_due = order.reply_due
        order.reply_due = add_working_days(order.reply_due, request.days)
        request.new_due = order.reply_due
        order.save(update_fields=["reply_due", "updated_at"])
        _follow_orders(actor, lead, now=now, cause="work_order.extended")
        _order_event(actor, "work_order.extended", order, order_before, extension=request.pk)
    else:
        request.status = ExtensionStatus.REFUSED
    request.save()
    event_record(
        actor=actor,
        verb="extension.decided",
        obj=request,
        after={"status": request.status, "note": note, "work_order": order.pk},
    )
    _tell_officers(
        order,
        lead,
        kind="extension.decided",
        title=(_("Extension approved on %(ref)s") if approve else _("Extension refused on %(ref)s"))
        % {"ref": lead.reference},
        body=note,
        key=f"extension.decided:{request.pk}",
    )
    return request


# ---------------------------------------------------------------------------- joint operations


def joint_reasons(lead: Lead, department_count: int, types: Sequence[ViolationType]) -> list[str]:
    """Why the rules propose a joint operation for this lead (empty: they do not)."""
    reasons = []
    if department_count >= JOINT_MIN_DEPARTMENTS:
        reasons.append("departments")
    inst = lead.institution
    if inst is None or inst.category == Category.NONE or inst.status == InstitutionStatus.PENDING:
        reasons.append("unlicensed")
    if inst is not None:
        since = _now() - timedelta(days=REPEAT_WINDOW_DAYS)
        earlier = (
            Lead.objects.filter(institution=inst, created_at__gte=since)
            .exclude(pk=lead.pk)
            .filter(
                Q(closure_reason__in=[ClosureReason.RECTIFIED, ClosureReason.PENALISED])
                | Q(case__concluded_at__gte=since)
            )
        )
        if earlier.exists():
            reasons.append("repeat")
    if any(t.severity >= Severity.HIGH for t in types):
        reasons.append("severity")
    return reasons


def joint_propose(
    *, lead: Lead, orders: Sequence[WorkOrder], types: Sequence[ViolationType]
) -> JointOperation | None:
    """Propose a joint operation when the rules say so (called inside the dispatch)."""
    reasons = joint_reasons(lead, len(orders), types)
    if not reasons:
        return None
    operation = JointOperation.objects.create(
        title=_("Joint operation on %(ref)s") % {"ref": lead.reference},
        region=lead.region,
        reasons=reasons,
    )
    operation.leads.add(lead)
    operation.departments.set([o.department_id for o in orders])
    event_record(
        actor=None,
        verb="joint.proposed",
        obj=operation,
        after={"status": operation.status, "reasons": reasons, "leads": [lead.pk]},
    )
    return operation


def _lock_joint(actor: Any, operation: JointOperation) -> JointOperation:
    operation = JointOperation.objects.select_for_update().get(pk=operation.pk)
    if actor is None or not can(actor, Capability.LEAD_TRIAGE):
        raise NotAllowed(_("Only the bureau decides joint operations."))
    scope = scope_of(actor)
    inside = Region.objects.filter(pk=operation.region_id).filter(
        scope.region_q(roles=frozenset({Role.SUPERVISOR}))
    )
    if not inside.exists():
        raise NotAllowed(_("Only the bureau decides joint operations."))
    return operation


def _move_joint(operation: JointOperation, target: str) -> None:
    from bihuan.leads.workflow import JOINT_MOVES

    if target not in JOINT_MOVES.get(operation.status, frozenset()):
        raise ServiceError(
            _("A joint operation that is “%(a)s” cannot become “%(b)s”.")
            % {"a": operation.get_status_display(), "b": JointStatus(target).label}
        )
    operation.status = target


@transaction.atomic
def joint_confirm(
    *,
    actor: Any,
    operation: JointOperation,
    planned_for: date,
    departments: Sequence[Department],
    team: Sequence[User] = (),
    named: Sequence[tuple[str, Department | None]] = (),
) -> JointOperation:
    """A supervisor confirms a proposed joint operation: date, departments and team."""
    operation = _lock_joint(actor, operation)
    _move_joint(operation, JointStatus.CONFIRMED)
    if planned_for is None:
        raise ServiceError(_("Set the date of the operation."), field="planned_for")
    if planned_for < timezone.localdate():
        raise ServiceError(_("The date of the operation is in the past."), field="planned_for")
    if len(set(d.pk for d in departments)) < 2:
        raise ServiceError(
            _("A joint operation needs at least two departments."), field="departments"
        )
    region_path = operation.region.path
    for dept in departments:
        if not region_path.startswith(dept.jurisdiction.path) or not dept.is_active:
            raise ServiceError(
                _("%(dept)s does not cover this place.") % {"dept": dept.short_name},
                field="departments",
            )
    if not team and not named:
        raise ServiceError(_("Name the team."), field="team")
    operation.planned_for = planned_for
    operation.decided_by = actor
    operation.decided_at = _now()
    operation.save()
    operation.departments.set(departments)
    for user in team:
        JointParticipant.objects.get_or_create(
            operation=operation,
            user=user,
            defaults={"name": str(user)[:50], "department": _department_of(user)},
        )
    for raw_name, named_dept in named:
        JointParticipant.objects.get_or_create(
            operation=operation,
            user=None,
            name=_text(raw_name, "team", limit=50),
            department=named_dept,
        )
    event_record(
        actor=actor,
        verb="joint.confirmed",
        obj=operation,
        after={
            "status": operation.status,
            "planned_for": planned_for,
            "departments": sorted(d.pk for d in departments),
            "team": operation.participants.count(),
        },
    )
    people: set[User] = set()
    for dept in departments:
        people |= set(_officers_of(dept.pk, operation.region))
    people |= set(team)
    _notify_later(
        people,
        kind="joint.confirmed",
        title=_("Joint operation on %(day)s: %(title)s")
        % {"day": planned_for.isoformat(), "title": operation.title},
        url=f"/leads/joint/{operation.pk}/",
        key=f"joint.confirmed:{operation.pk}",
    )
    return operation


def _department_of(user: User) -> Department | None:
    row = (
        Assignment.objects.filter(user=user, is_active=True, department__isnull=False)
        .select_related("department")
        .first()
    )
    return row.department if row else None


@transaction.atomic
def joint_decline(*, actor: Any, operation: JointOperation, reason: str) -> JointOperation:
    """A supervisor declines a proposed joint operation, saying why."""
    reason = _text(reason, "reason")
    operation = _lock_joint(actor, operation)
    _move_joint(operation, JointStatus.DECLINED)
    operation.decline_reason = reason
    operation.decided_by = actor
    operation.decided_at = _now()
    operation.save()
    event_record(
        actor=actor,
        verb="joint.declined",
        obj=operation,
        after={"status": operation.status, "reason": reason},
    )
    return operation


@transaction.atomic
def joint_record(
    *,
    actor: Any,
    operation: JointOperation,
    outcome: str,
    absent: Sequence[JointParticipant] = (),
    extra: Sequence[tuple[str, Department | None]] = (),
) -> JointOperation:
    """Record what a confirmed operation did and who really took part (each is a person-time)."""
    outcome = _text(outcome, "outcome", limit=4000)
    operation = _lock_joint(actor, operation)
    _move_joint(operation, JointStatus.RECORDED)
    if operation.planned_for and operation.planned_for > timezone.localdate():
        raise ServiceError(_("An operation is recorded on or after its date."))
    absent_ids = {p.pk for p in absent}
    operation.participants.filter(pk__in=absent_ids).update(took_part=False)
    for raw_name, dept in extra:
        JointParticipant.objects.get_or_create(
            operation=operation, user=None, name=_text(raw_name, "team", limit=50), department=dept
        )
    if not operation.participants.filter(took_part=True).exists():
        raise ServiceError(_("Nobody took part: record who did."), field="team")
    operation.outcome = outcome
    operation.recorded_at = _now()
    operation.save()
    event_record(
        actor=actor,
        verb="joint.recorded",
        obj=operation,
        after={
            "status": operation.status,
            "participants": operation.participants.filter(took_part=True).count(),
        },
    )
    return operation
