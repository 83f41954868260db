"""The access matrix: every URL pattern × every persona × in scope / out of scope, as data.

``patterns()`` walks the URL configuration, so a new endpoint appears here without anyone adding
it; ``problems()`` names every pattern that has no rule in ``RULES`` or whose URL arguments no
object maker in ``MAKERS`` can fill. The tests (``bihuan/core/tests/test_access_matrix.py``)
request every cell and compare the answer with ``expected()``; ``manage.py access_matrix`` writes
the same declarations to ``docs/access-matrix.md``.

A rule says who may use a page: nobody needs to sign in (``PUBLIC``, with the reason), anyone
signed in (``SIGNED_IN``), or the holders of one of some capabilities (``GATED``; the REST API's
rules are gated the same way). Where the page shows one record, the rule names its maker: a
function that, for a persona, finds a record of that type inside the persona's scope and one
outside it (through the same ``*_visible_to`` selectors the pages use). Out of scope is 404, and a
role without the capability is 404 too: the project never confirms that a record exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db.models import Model, QuerySet
from django.urls import URLPattern, URLResolver, get_resolver

from bihuan.accounts.policies import CAPABILITIES, Capability
from bihuan.demo import data

C = Capability


class Category(StrEnum):
    PUBLIC = "public"
    SIGNED_IN = "signed in"
    GATED = "capability"


@dataclass(frozen=True)
class Pattern:
    """One URL pattern as the resolver holds it."""

    name: str
    route: str
    kwargs: tuple[str, ...]
    view: str
    methods: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.name.startswith("api:") and self.name not in ("api:tokens", "api:token-revoke")

    @property
    def is_suffix_twin(self) -> bool:
        """DRF's router adds a ``.json`` twin of each API route; the same view answers both."""
        return self.is_api and "(?P<format>" in self.route

    @property
    def key(self) -> str:
        """Unique among patterns: the format-suffix twins of an API route share its name."""
        return f"{self.name} {self.route}"


@dataclass(frozen=True)
class Rule:
    """Who may use a pattern, and how to fill its arguments."""

    category: Category
    capabilities: frozenset[Capability] = frozenset()
    target: str | None = None  # a key of MAKERS
    fixed: dict[str, str] = field(default_factory=dict)  # arguments that are not records
    reason: str = ""  # why a public pattern is public
    body: dict[str, str] = field(default_factory=dict)  # a plausible POST
    roles: frozenset[str] = frozenset()  # or these roles, where the view checks roles


def public(reason: str, **fixed: str) -> Rule:
    return Rule(Category.PUBLIC, reason=reason, fixed=fixed)


def signed_in(target: str | None = None, **fixed: str) -> Rule:
    return Rule(Category.SIGNED_IN, target=target, fixed=fixed)


def gated(
    *capabilities: Capability,
    target: str | None = None,
    body: dict[str, str] | None = None,
    roles: tuple[str, ...] = (),
    **fixed: str,
) -> Rule:
    return Rule(
        Category.GATED,
        frozenset(capabilities),
        target=target,
        fixed=fixed,
        body=body or {},
        roles=frozenset(roles),
    )


# --- Personas ---------------------------------------------------------------------------------

# Column order of the document: the conftest persona fixtures, by demo username.
PERSONAS: dict[str, str] = {
    "admin": "admin_system",
    "security": "admin_security",
    "auditor": "admin_audit",
    "supervisor": "supervisor_city",
    "xiaonan": "supervisor_xiaonan",
    "wenchang": "coordinator_wenchang",
    "huaiyin": "coordinator_huaiyin",
    "yangtiezhu": "inspector_wenchang",
    "market": "officer_market",
    "xnjiaoyu": "officer_education_xiaonan",
    "xnmarket": "officer_market_xiaonan",
    "gongan": "officer_police",
    "school": "school_tiyulu",
    "pianqu": "area_guangchang",
}


def persona_capabilities(username: str) -> frozenset[Capability]:
    """What the persona's demo roles allow (read from the demo data, not the database)."""
    roles = {row[3] for row in data.USERS if row[0] == username}
    result: set[Capability] = set()
    for role in roles:
        result |= CAPABILITIES.get(role, frozenset())
    return frozenset(result)


# --- The walk ---------------------------------------------------------------------------------


_HTTP = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def _is_method_list(value: Any) -> bool:
    """The list ``require_http_methods`` keeps in its closure."""
    return isinstance(value, list) and bool(value) and set(value) <= _HTTP


def _methods(callback: Any) -> tuple[str, ...]:
    """The HTTP methods a view accepts, from its decorators or its DRF class."""
    cls = getattr(callback, "cls", None)
    actions = getattr(callback, "actions", None)
    if actions:
        return tuple(sorted(m.upper() for m in actions))
    if cls is not None:
        names = getattr(cls, "http_method_names", [])
        return tuple(
            sorted(m.upper() for m in names if hasattr(cls, m) and m not in ("options", "head"))
        )
    function = callback
    while function is not None:
        for cell in getattr(function, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if _is_method_list(value):
                return tuple(sorted(set(value) - {"HEAD", "OPTIONS"}))
        function = getattr(function, "__wrapped__", None)
    return ("GET", "POST")


def _walk(resolver: URLResolver, prefix: str, namespace: str) -> Iterator[Pattern]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = entry.name or ""
            if name and namespace:
                name = f"{namespace}:{name}"
            route = prefix + str(entry.pattern)
            kwargs = tuple(entry.pattern.regex.groupindex)
            callback = entry.callback
            view = f"{callback.__module__}.{getattr(callback, '__name__', type(callback).__name__)}"
            yield Pattern(name or route, route, kwargs, view, _methods(callback))


def patterns() -> list[Pattern]:
    """Every URL pattern of the project, in the order the resolver tries them."""
    return list(_walk(get_resolver(), "", ""))


# --- Object makers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Maker:
    """Finds, for a persona, a record in scope and one out of scope, as URL arguments.

    ``visible`` is the selector the pages use; ``None`` for configuration that has no scope
    (the taxonomy, the calendar, checklist templates), where nothing is ever out of scope.
    """

    kwargs: tuple[str, ...]
    rows: Callable[[], QuerySet[Any]]
    to_kwargs: Callable[[Any], dict[str, Any]]
    visible: Callable[[Any], QuerySet[Any]] | None = None

    def find(self, user: Any, *, in_scope: bool) -> dict[str, Any] | None:
        rows = self.rows().order_by("pk")
        if self.visible is None or user is None:
            record = rows.first() if in_scope else None
        elif in_scope:
            record = rows.filter(pk__in=self.visible(user).values("pk")).first()
        else:
            record = rows.exclude(pk__in=self.visible(user).values("pk")).first()
        return None if record is None else self.to_kwargs(record)

    def record(self, kwargs: dict[str, Any]) -> Model | None:
        """The record the arguments point at (to check that its row did not change)."""
        key = next(iter(self.kwargs))
        value = kwargs[key]
        lookup = "code" if key == "code" else "pk"
        return self.rows().filter(**{lookup: value}).first()


def _pk(record: Any) -> dict[str, Any]:
    return {"pk": record.pk}


def _makers() -> dict[str, Maker]:
    # Imported here: the walk and the document must not need every app's models loaded.
    from bihuan.accounts import sessions as account_sessions
    from bihuan.accounts.models import Assignment, Department, User, UserSession
    from bihuan.accounts.selectors import departments_visible_to, users_visible_to
    from bihuan.api.models import ApiToken
    from bihuan.cases.models import Case, Refund
    from bihuan.cases.selectors import cases_visible_to, refunds_visible_to
    from bihuan.leads import selectors as lead_selectors
    from bihuan.leads.models import (
        Attachment,
        ExtensionRequest,
        JointOperation,
        Lead,
        RoutingRule,
        ViolationGroup,
        ViolationType,
        WorkOrder,
    )
    from bihuan.notifications.models import Notification
    from bihuan.notifications.selectors import notifications_visible_to
    from bihuan.open311.models import ApiClient
    from bihuan.open311.selectors import api_clients_visible_to
    from bihuan.registry.models import (
        BoundaryImport,
        Institution,
        InstitutionImport,
        MatchCandidate,
    )
    from bihuan.registry.selectors import (
        institution_imports_visible_to,
        institutions_visible_to,
        match_candidates_visible_to,
    )
    from bihuan.screening import selectors as screening_selectors
    from bihuan.screening.models import (
        ChecklistTemplate,
        ChecklistVersion,
        Inspection,
        InspectionPhoto,
        Round,
        Task,
        TaskItem,
    )
    from bihuan.territory import selectors as territory_selectors
    from bihuan.territory.models import (
        Area,
        AreaResponsible,
        Region,
        RegionImport,
        ResponsiblePartyKind,
        Sentinel,
    )
    from bihuan.webhooks.models import Delivery, Subscription
    from bihuan.webhooks.selectors import subscriptions_visible_to

    def own(model: type[Model], field_name: str = "user") -> Callable[[Any], QuerySet[Any]]:
        return lambda user: model._default_manager.filter(**{field_name: user})

    leads = lead_selectors.leads_visible_to
    orders = lead_selectors.work_orders_visible_to
    return {
        "user": Maker(("pk",), User.objects.all, _pk, users_visible_to),
        "user_session": Maker(
            ("pk",), UserSession.objects.all, _pk, account_sessions.sessions_visible_to
        ),
        "assignment": Maker(
            ("pk",),
            lambda: Assignment.objects.filter(is_active=True),
            _pk,
            lambda u: Assignment.objects.filter(user__in=users_visible_to(u)),
        ),
        "department": Maker(("pk",), Department.objects.all, _pk, departments_visible_to),
        "region": Maker(
            ("code",),
            Region.objects.all,
            lambda r: {"code": r.code},
            territory_selectors.regions_visible_to,
        ),
        "area": Maker(("pk",), Area.objects.all, _pk, territory_selectors.areas_visible_to),
        "area_party": Maker(
            ("pk", "party_pk"),
            lambda: AreaResponsible.objects.filter(is_active=True),
            lambda p: {"pk": p.area_id, "party_pk": p.pk},
            lambda u: AreaResponsible.objects.filter(
                area__in=territory_selectors.areas_visible_to(u)
            ),
        ),
        "party_kind": Maker(("pk",), ResponsiblePartyKind.objects.all, _pk),
        "sentinel": Maker(
            ("pk",), Sentinel.objects.all, _pk, territory_selectors.sentinels_visible_to
        ),
        "region_import": Maker(
            ("pk",), RegionImport.objects.all, _pk, territory_selectors.region_imports_visible_to
        ),
        "institution": Maker(("pk",), Institution.objects.all, _pk, institutions_visible_to),
        "match": Maker(("pk",), MatchCandidate.objects.all, _pk, match_candidates_visible_to),
        "institution_import": Maker(
            ("pk",), InstitutionImport.objects.all, _pk, institution_imports_visible_to
        ),
        "boundary_import": Maker(("pk",), BoundaryImport.objects.all, _pk),
        "lead": Maker(("pk",), Lead.objects.all, _pk, leads),
        "case_lead": Maker(
            ("lead_pk",), Lead.objects.all, lambda lead: {"lead_pk": lead.pk}, leads
        ),
        "lead_order": Maker(
            ("pk", "order_pk"),
            WorkOrder.objects.all,
            lambda o: {"pk": o.lead_id, "order_pk": o.pk},
            orders,
        ),
        "lead_extension": Maker(
            ("pk", "extension_pk"),
            ExtensionRequest.objects.all,
            lambda e: {"pk": e.work_order.lead_id, "extension_pk": e.pk},
            lead_selectors.extensions_visible_to,
        ),
        "joint": Maker(
            ("pk",), JointOperation.objects.all, _pk, lead_selectors.joint_operations_visible_to
        ),
        "order": Maker(("pk",), WorkOrder.objects.all, _pk, orders),
        "attachment": Maker(
            ("pk",),
            Attachment.objects.all,
            _pk,
            lambda u: Attachment.objects.filter(lead__in=leads(u)),
        ),
        "case": Maker(("pk",), Case.objects.all, _pk, cases_visible_to),
        "refund": Maker(("pk",), Refund.objects.all, _pk, refunds_visible_to),
        "tip_lead": Maker(
            ("pk",),
            lambda: Lead.objects.filter(public_tip__isnull=False),
            _pk,
            lead_selectors.leads_triaged_by,
        ),
        "field_find": Maker(
            ("pk",),
            lambda: Institution.objects.filter(source="field", status="pending"),
            _pk,
            screening_selectors.field_finds_reviewed_by,
        ),
        "checklist": Maker(("pk",), ChecklistTemplate.objects.all, _pk),
        "checklist_version": Maker(
            ("pk", "number"),
            ChecklistVersion.objects.all,
            lambda v: {"pk": v.template_id, "number": v.number},
        ),
        "checklist_question": Maker(
            ("pk", "number", "name"),
            lambda: ChecklistVersion.objects.filter(status="draft"),
            lambda v: {
                "pk": v.template_id,
                "number": v.number,
                "name": v.definition["questions"][0]["name"],
            },
        ),
        "checklist_draft": Maker(
            ("pk", "number"),
            lambda: ChecklistVersion.objects.filter(status="draft"),
            lambda v: {"pk": v.template_id, "number": v.number},
        ),
        "own_task": Maker(("pk",), Task.objects.all, _pk, own(Task, "inspector")),
        "own_item": Maker(("pk",), TaskItem.objects.all, _pk, own(TaskItem, "task__inspector")),
        "own_inspection": Maker(
            ("pk",), Inspection.objects.all, _pk, own(Inspection, "task__inspector")
        ),
        "own_inspection_photo": Maker(
            ("pk", "photo_pk"),
            InspectionPhoto.objects.all,
            lambda p: {"pk": p.inspection_id, "photo_pk": p.pk},
            own(InspectionPhoto, "inspection__task__inspector"),
        ),
        "round": Maker(("pk",), Round.objects.all, _pk, screening_selectors.rounds_visible_to),
        "task": Maker(("pk",), Task.objects.all, _pk, screening_selectors.tasks_visible_to),
        "task_item": Maker(
            ("pk",), TaskItem.objects.all, _pk, screening_selectors.task_items_visible_to
        ),
        "inspection": Maker(
            ("pk",), Inspection.objects.all, _pk, screening_selectors.inspections_visible_to
        ),
        "inspection_photo": Maker(
            ("pk", "photo_pk"),
            InspectionPhoto.objects.all,
            lambda p: {"pk": p.inspection_id, "photo_pk": p.pk},
            lambda u: InspectionPhoto.objects.filter(
                inspection__in=screening_selectors.inspections_visible_to(u)
            ),
        ),
        "photo": Maker(
            ("pk",),
            InspectionPhoto.objects.all,
            _pk,
            lambda u: InspectionPhoto.objects.filter(
                inspection__in=screening_selectors.inspections_visible_to(u)
            ),
        ),
        "api_client": Maker(("pk",), ApiClient.objects.all, _pk, api_clients_visible_to),
        "api_token": Maker(("pk",), ApiToken.objects.all, _pk, own(ApiToken)),
        "subscription": Maker(("pk",), Subscription.objects.all, _pk, subscriptions_visible_to),
        "delivery": Maker(
            ("pk", "delivery"),
            Delivery.objects.all,
            lambda d: {"pk": d.subscription_id, "delivery": d.pk},
            lambda u: Delivery.objects.filter(subscription__in=subscriptions_visible_to(u)),
        ),
        "notification": Maker(("pk",), Notification.objects.all, _pk, notifications_visible_to),
        "violation_group": Maker(("code",), ViolationGroup.objects.all, lambda g: {"code": g.code}),
        "violation_type": Maker(("code",), ViolationType.objects.all, lambda t: {"code": t.code}),
        "routing_rule": Maker(("pk",), RoutingRule.objects.all, _pk),
        # The API addresses records by primary key, regions included.
        "api_region": Maker(
            ("pk",), Region.objects.all, _pk, territory_selectors.regions_visible_to
        ),
    }


MAKERS_CACHE: dict[str, Maker] = {}


def makers() -> dict[str, Maker]:
    if not MAKERS_CACHE:
        MAKERS_CACHE.update(_makers())
    return MAKERS_CACHE


# --- The rules --------------------------------------------------------------------------------

SUFFIX = "json"  # the format of a DRF format-suffix pattern
TRIAGE, ORDERS, REPORT = C.LEAD_TRIAGE, C.ORDER_HANDLE, C.LEAD_REPORT
LEAD_READERS = (TRIAGE, ORDERS, REPORT, C.FIGURES_READ, C.INSPECT)
PLACE_READERS = (C.TERRITORY_READ,)
ROUNDS = C.ROUND_MANAGE
JOINT_ROLES = ("supervisor", "officer", "area_responsible")
CHECKLISTS = C.CHECKLIST_MANAGE

RULES: dict[str, Rule] = {
    # Public: reachable before signing in.
    "healthz": public("load balancer probe; says only whether the database answers"),
    "set_language": public("Django's language switch, also on the login page"),
    "accounts:login": public("the sign-in page"),
    "accounts:login_code": public("the second sign-in step, after a right password"),
    "intake:tip_new": public("parents report an institution without an account"),
    "intake:tip_done": public("the page after a tip, showing its tracking code"),
    "intake:tip_status": public("parents look a tip up by its tracking code"),
    "intake:tip_status_code": public("a tip's public status, by its unguessable code", code="X"),
    "open311:root": public("Open311 GeoReport v2 discovery"),
    "open311:discovery": public("Open311 GeoReport v2 discovery", fmt="json"),
    "open311:services": public("Open311 service list (the public tip categories)", fmt="json"),
    "open311:service": public("Open311 service definition", code="X", fmt="json"),
    "open311:requests": public(
        "Open311 requests: public status only; POST needs an API key", fmt="json"
    ),
    "open311:request": public("Open311 request status by its public code", code="X", fmt="json"),
    "open311:token": public("Open311 token lookup by its public code", code="X", fmt="json"),
    "captcha-image": public("the tip form's captcha", key="0"),
    "captcha-image-2x": public("the tip form's captcha", key="0"),
    "captcha-audio": public("the tip form's captcha, spoken", key="0"),
    "captcha-refresh": public("the tip form's captcha, a new one"),
    "api:schema": public("the OpenAPI description of the REST API (no data)"),
    "api:docs": public("the REST API's documentation page (no data)"),
    # Anyone signed in.
    "accounts:home": signed_in(),
    "accounts:logout": signed_in(),
    "accounts:password_change": signed_in(),
    "accounts:second_factor": signed_in(),
    "accounts:second_factor_disable": signed_in(),
    "accounts:my_sessions": signed_in(),
    "accounts:session_end": signed_in("user_session"),
    "notifications:list": signed_in(),
    "notifications:unread": signed_in(),
    "notifications:bell": signed_in(),
    "notifications:read_all": signed_in(),
    "notifications:read": signed_in("notification"),
    "api:tokens": signed_in(),
    "api:token-revoke": signed_in("api_token"),
    "api:api-root": signed_in(),
    "api:figures": gated(C.FIGURES_READ),
    # Accounts and departments.
    "accounts:users": gated(C.USER_READ),
    "accounts:user_create": gated(C.USER_MANAGE),
    "accounts:user": gated(C.USER_READ, target="user"),
    "accounts:user_set_active": gated(C.USER_MANAGE, target="user", body={"active": "0"}),
    "accounts:user_reset_password": gated(C.USER_MANAGE, target="user"),
    "accounts:user_unlock": gated(C.ACCOUNT_UNLOCK, target="user"),
    "accounts:user_second_factor_reset": gated(C.ACCOUNT_UNLOCK, target="user"),
    "accounts:sessions": gated(C.SESSION_MANAGE),
    "accounts:user_sessions_end": gated(C.SESSION_MANAGE, target="user"),
    "accounts:assignment_grant": gated(C.ASSIGNMENT_MANAGE, target="user"),
    "accounts:assignment_end": gated(C.ASSIGNMENT_MANAGE, target="assignment"),
    "accounts:departments": gated(C.TERRITORY_READ),
    "accounts:department_save": gated(C.DEPARTMENT_MANAGE),
    "accounts:department": gated(C.TERRITORY_READ, target="department"),
    # Territory.
    "territory:regions": gated(*PLACE_READERS),
    "territory:region": gated(*PLACE_READERS, target="region"),
    "territory:region_children": gated(*PLACE_READERS, target="region"),
    "territory:areas": gated(*PLACE_READERS),
    "territory:area": gated(*PLACE_READERS, target="area"),
    "territory:area_responsible_add": gated(
        C.TERRITORY_MANAGE, C.AREA_RESPONSIBLES_MANAGE, target="area"
    ),
    "territory:area_responsible_end": gated(
        C.TERRITORY_MANAGE, C.AREA_RESPONSIBLES_MANAGE, target="area_party"
    ),
    "territory:responsible_kinds": gated(C.TERRITORY_MANAGE),
    "territory:responsible_kind_toggle": gated(C.TERRITORY_MANAGE, target="party_kind"),
    "territory:sentinels": gated(*PLACE_READERS),
    "territory:sentinel": gated(*PLACE_READERS, target="sentinel"),
    "territory:import": gated(C.TERRITORY_MANAGE),
    "territory:import_template": gated(C.TERRITORY_MANAGE),
    "territory:import_detail": gated(C.TERRITORY_MANAGE, target="region_import"),
    "territory:import_apply": gated(C.TERRITORY_MANAGE, target="region_import"),
    # Registry.
    "registry:institutions": gated(C.REGISTRY_READ),
    "registry:institution_create": gated(C.REGISTRY_MANAGE),
    "registry:institution": gated(C.REGISTRY_READ, target="institution"),
    "registry:institution_edit": gated(C.REGISTRY_MANAGE, target="institution"),
    "registry:institution_status": gated(C.REGISTRY_MANAGE, target="institution"),
    "registry:institution_blacklist": gated(C.REGISTRY_MANAGE, target="institution"),
    "registry:course_add": gated(C.REGISTRY_MANAGE, target="institution"),
    "registry:review": gated(C.REGISTRY_MANAGE),
    "registry:review_decide": gated(C.REGISTRY_MANAGE, target="match"),
    "registry:import_upload": gated(C.REGISTRY_MANAGE),
    "registry:import_template": gated(C.REGISTRY_MANAGE),
    "registry:import_detail": gated(C.REGISTRY_MANAGE, target="institution_import"),
    "registry:import_apply": gated(C.REGISTRY_MANAGE, target="institution_import"),
    "registry:import_errors": gated(C.REGISTRY_MANAGE, target="institution_import"),
    "registry:map": gated(C.REGISTRY_READ),
    "registry:map_data": gated(C.REGISTRY_READ),
    "registry:boundaries": gated(C.TERRITORY_MANAGE),
    "registry:boundary_import": gated(C.TERRITORY_MANAGE, target="boundary_import"),
    # Audit.
    "audit:events": gated(C.AUDIT_READ),
    "audit:chain_verify": gated(C.AUDIT_READ),
    # Leads and work orders.
    "leads:queue": gated(TRIAGE, ORDERS),
    "leads:report": gated(REPORT),
    "leads:institution_search": gated(REPORT, TRIAGE),
    "leads:mine": gated(REPORT),
    "leads:detail": gated(*LEAD_READERS, target="lead"),
    "leads:lead_action": gated(TRIAGE, target="lead", action="accept"),
    "leads:bureau_order_action": gated(TRIAGE, target="lead_order", action="accept"),
    "leads:extension_action": gated(TRIAGE, target="lead_extension"),
    "leads:joint_list": gated(roles=JOINT_ROLES),
    "leads:joint": gated(roles=JOINT_ROLES, target="joint"),
    "leads:joint_action": gated(TRIAGE, target="joint", action="record"),
    "leads:inbox": gated(TRIAGE, ORDERS),
    "leads:order": gated(TRIAGE, ORDERS, target="order"),
    "leads:order_action": gated(ORDERS, target="order", action="sign"),
    "leads:attachment": gated(*LEAD_READERS, target="attachment"),
    "intake:tip_replies": gated(TRIAGE, target="tip_lead"),
    # Cases.
    "cases:list": signed_in(),
    "cases:detail": signed_in("case"),
    "cases:action": gated(C.CASE_RECORD, target="case", action="rectification"),
    "cases:open": gated(C.CASE_RECORD, target="case_lead"),
    "cases:refund_verify": gated(TRIAGE, target="refund"),
    "cases:refund_reject": gated(TRIAGE, target="refund", body={"reject-reason": "金额不符"}),
    # Screening: checklists (configuration, no scope).
    "screening:checklists": gated(CHECKLISTS, ROUNDS),
    "screening:checklist_new": gated(CHECKLISTS),
    "screening:checklist_detail": gated(CHECKLISTS, ROUNDS, target="checklist"),
    "screening:checklist_draft": gated(CHECKLISTS, target="checklist"),
    "screening:checklist_active": gated(CHECKLISTS, target="checklist"),
    "screening:checklist_import": gated(CHECKLISTS, target="checklist"),
    "screening:checklist_version": gated(CHECKLISTS, ROUNDS, target="checklist_version"),
    "screening:checklist_export": gated(CHECKLISTS, ROUNDS, target="checklist_version"),
    "screening:checklist_publish": gated(CHECKLISTS, target="checklist_draft"),
    "screening:checklist_retire": gated(CHECKLISTS, target="checklist_version"),
    "screening:checklist_details": gated(CHECKLISTS, target="checklist_draft"),
    "screening:checklist_question_new": gated(CHECKLISTS, target="checklist_draft"),
    "screening:checklist_question": gated(CHECKLISTS, target="checklist_question"),
    "screening:checklist_question_remove": gated(CHECKLISTS, target="checklist_question"),
    "screening:checklist_question_move": gated(CHECKLISTS, target="checklist_question"),
    # Screening: rounds, inspections, review.
    "screening:rounds": gated(ROUNDS),
    "screening:round_new": gated(ROUNDS),
    "screening:round_detail": gated(ROUNDS, target="round"),
    "screening:round_progress": gated(ROUNDS, target="round"),
    "screening:round_action": gated(ROUNDS, target="round", action="close"),
    "screening:item_move": gated(ROUNDS, target="task_item"),
    "screening:task_xlsx": gated(ROUNDS, C.INSPECT, target="task"),
    "screening:task_print": gated(ROUNDS, C.INSPECT, target="task"),
    "screening:my_tasks": signed_in(),
    "screening:task": gated(ROUNDS, C.INSPECT, target="task"),
    "screening:field_find_new": gated(C.INSPECT, target="own_task"),
    "screening:inspect": gated(C.INSPECT, target="own_item"),
    "screening:inspection_detail": gated(ROUNDS, C.INSPECT, target="inspection"),
    "screening:inspection_edit": gated(C.INSPECT, target="own_inspection"),
    "screening:inspection_draft": gated(C.INSPECT, target="own_inspection"),
    "screening:inspection_photo": gated(C.INSPECT, target="own_inspection"),
    "screening:inspection_photo_remove": gated(C.INSPECT, target="own_inspection_photo"),
    "screening:inspection_participants": gated(C.INSPECT, target="own_inspection"),
    "screening:inspection_submit": gated(C.INSPECT, target="own_inspection"),
    "screening:photo": gated(ROUNDS, C.INSPECT, target="photo"),
    "screening:review_queue": gated(ROUNDS),
    "screening:review_detail": gated(ROUNDS, target="inspection"),
    "screening:review_approve": gated(ROUNDS, target="inspection"),
    "screening:review_return": gated(ROUNDS, target="inspection"),
    "screening:field_finds": gated(ROUNDS),
    "screening:field_find_approve": gated(ROUNDS, target="field_find"),
    "screening:field_find_reject": gated(ROUNDS, target="field_find"),
    # Reports.
    "reports:figures": gated(C.FIGURES_READ),
    "reports:records": gated(C.FIGURES_READ, metric="leads"),
    "reports:report": gated(C.FIGURES_READ),
    "reports:health": gated(C.FIGURES_READ),
    "reports:dashboard": gated(C.FIGURES_READ),
    "reports:dashboard_data": gated(C.FIGURES_READ),
    "reports:dashboard_map": gated(C.FIGURES_READ),
    "reports:big_screen": gated(C.FIGURES_READ),
    # Open311 and webhook clients: configuration of the department managers.
    "open311:clients": gated(C.DEPARTMENT_MANAGE),
    "open311:client_create": gated(C.DEPARTMENT_MANAGE),
    "open311:client_revoke": gated(C.DEPARTMENT_MANAGE, target="api_client"),
    "webhooks:list": gated(C.DEPARTMENT_MANAGE),
    "webhooks:create": gated(C.DEPARTMENT_MANAGE),
    "webhooks:detail": gated(C.DEPARTMENT_MANAGE, target="subscription"),
    "webhooks:pause": gated(C.DEPARTMENT_MANAGE, target="subscription"),
    "webhooks:rotate": gated(C.DEPARTMENT_MANAGE, target="subscription"),
    "webhooks:delete": gated(C.DEPARTMENT_MANAGE, target="subscription"),
    "webhooks:resend": gated(C.DEPARTMENT_MANAGE, target="delivery"),
    # Configuration: calendar and taxonomy.
    "calendar:year": gated(C.CALENDAR_MANAGE),
    "calendar:day_withdraw": gated(C.CALENDAR_MANAGE, day="2026-10-01"),
    "taxonomy:types": gated(C.TAXONOMY_MANAGE),
    "taxonomy:group_update": gated(C.TAXONOMY_MANAGE, target="violation_group"),
    "taxonomy:type_create": gated(C.TAXONOMY_MANAGE),
    "taxonomy:type": gated(C.TAXONOMY_MANAGE, target="violation_type"),
    "taxonomy:type_edit": gated(C.TAXONOMY_MANAGE, target="violation_type"),
    "taxonomy:type_set_active": gated(
        C.TAXONOMY_MANAGE, target="violation_type", body={"active": "0"}
    ),
    "taxonomy:rules": gated(C.TAXONOMY_MANAGE),
    "taxonomy:rule_create": gated(C.TAXONOMY_MANAGE),
    "taxonomy:rule_deactivate": gated(C.TAXONOMY_MANAGE, target="routing_rule"),
    "taxonomy:try": gated(C.TAXONOMY_MANAGE),
    # The REST API: lists answer anyone signed in (an empty page outside their scope), records
    # and actions are scoped by the pages' selectors.
    "api:region-list": signed_in(),
    "api:region-detail": signed_in("api_region"),
    "api:institution-list": signed_in(),
    "api:institution-detail": signed_in("institution"),
    "api:round-list": signed_in(),
    "api:round-detail": signed_in("round"),
    "api:task-list": signed_in(),
    "api:task-detail": signed_in("task"),
    "api:inspection-list": signed_in(),
    "api:inspection-detail": signed_in("inspection"),
    "api:lead-list": signed_in(),
    "api:lead-detail": signed_in("lead"),
    "api:lead-accept": gated(TRIAGE, target="lead"),
    "api:lead-close": gated(TRIAGE, target="lead"),
    "api:lead-dispatch-lead": gated(TRIAGE, target="lead"),
    "api:lead-classify": gated(TRIAGE, target="lead"),
    "api:lead-dismiss": gated(TRIAGE, target="lead"),
    "api:lead-link": gated(TRIAGE, target="lead"),
    "api:lead-merge": gated(TRIAGE, target="lead"),
    "api:lead-reopen": gated(TRIAGE, target="lead"),
    "api:work-order-list": signed_in(),
    "api:work-order-detail": signed_in("order"),
    "api:work-order-accept": gated(TRIAGE, target="order"),
    "api:work-order-extension": gated(ORDERS, target="order"),
    "api:work-order-reply": gated(ORDERS, target="order"),
    "api:work-order-return-order": gated(ORDERS, target="order"),
    "api:work-order-sign": gated(ORDERS, target="order"),
    "api:work-order-urge": gated(TRIAGE, target="order"),
    "api:work-order-extension-decision": gated(TRIAGE, target="order"),
    "api:work-order-reassign": gated(TRIAGE, target="order"),
    "api:work-order-redo": gated(TRIAGE, target="order"),
    "api:work-order-refuse-return": gated(TRIAGE, target="order"),
    "api:work-order-supervise": gated(TRIAGE, target="order"),
    "api:joint-operation-list": signed_in(),
    "api:joint-operation-detail": signed_in("joint"),
    "api:joint-operation-confirm": gated(ORDERS, target="joint"),
    "api:joint-operation-decline": gated(ORDERS, target="joint"),
    "api:joint-operation-record": gated(TRIAGE, target="joint"),
    "api:case-list": signed_in(),
    "api:case-detail": signed_in("case"),
}


def rule_of(pattern: Pattern) -> Rule | None:
    return RULES.get(pattern.name)


def arguments_missing(pattern: Pattern, rule: Rule) -> set[str]:
    """URL arguments of the pattern that neither the rule's maker nor its fixed values fill."""
    filled = set(rule.fixed)
    if rule.target is not None:
        maker = makers().get(rule.target)
        filled |= set(maker.kwargs) if maker else set()
    if pattern.is_api and "format" in pattern.kwargs:
        filled.add("format")
    return set(pattern.kwargs) - filled


def problems() -> list[str]:
    """Patterns the matrix does not cover, each named (empty when every endpoint is covered)."""
    found = []
    for pattern in patterns():
        rule = rule_of(pattern)
        if rule is None:
            found.append(f"{pattern.name} ({pattern.route}): in no category; add it to RULES")
            continue
        if rule.target is not None and rule.target not in makers():
            found.append(f"{pattern.name}: no object maker called {rule.target!r}")
        missing = arguments_missing(pattern, rule)
        if missing:
            found.append(f"{pattern.name}: no maker knows the arguments {sorted(missing)}")
    return found


# --- What each cell should say ----------------------------------------------------------------

OK, NOT_FOUND, NONE = "✓", "404", "—"


def allowed(rule: Rule, username: str) -> bool:
    """May the persona use the pattern at all (on a record in their scope)?"""
    if rule.category is not Category.GATED:
        return True
    roles = {row[3] for row in data.USERS if row[0] == username}
    return bool(rule.capabilities & persona_capabilities(username) or rule.roles & roles)


def expected(rule: Rule, username: str) -> tuple[str, str]:
    """The declared (in scope, out of scope) answers of one persona."""
    if rule.category is Category.PUBLIC:
        return OK, NONE
    target = rule.target
    scoped = target is not None and target not in _UNSCOPED
    if not allowed(rule, username):
        return NOT_FOUND, NOT_FOUND if scoped else NONE
    if target in _OWN:
        return OK, NOT_FOUND
    return OK, NOT_FOUND if scoped and not sees_everything(username) else NONE


def sees_everything(username: str) -> bool:
    """The three administrators' pages cover the whole territory: nothing is out of their scope."""
    from bihuan.accounts.models import ADMIN_ROLES

    return any(row[3] in ADMIN_ROLES for row in data.USERS if row[0] == username)


# Records that are one user's own: another user's is out of scope for everyone.
_OWN = {"api_token", "notification"}
# Configuration, the same for everyone who may see it at all (administrators' pages).
_UNSCOPED = {
    "checklist_draft",
    "api_client",
    "subscription",
    "delivery",
    "party_kind",
    "boundary_import",
    "checklist",
    "checklist_version",
    "checklist_question",
    "violation_group",
    "violation_type",
    "routing_rule",
}


def anonymous_expected(pattern: Pattern, rule: Rule) -> str:
    if rule.category is Category.PUBLIC:
        return OK
    return "401/403" if pattern.is_api else "login"


# --- The document -----------------------------------------------------------------------------


def _cell(rule: Rule, username: str) -> str:
    inside, outside = expected(rule, username)
    return inside if outside == NONE else f"{inside} / {outside}"


def _route(route: str) -> str:
    """A readable route: regex anchors and groups become <name>."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    return route.replace("^", "").replace("$", "").replace("\\", "")


def markdown() -> str:
    """The matrix as a Markdown document (``docs/access-matrix.md``)."""
    users = list(PERSONAS)
    lines = [
        "# Access matrix",
        "",
        "Generated by `manage.py access_matrix` from the URL configuration and",
        "`bihuan/core/access_matrix.py`; `bihuan/core/tests/test_access_matrix.py` requests every",
        "cell and fails when this file is stale. Do not edit by hand.",
        "",
        "Cells: *in scope / out of scope*. `✓` the page answers (not 404, no server error);",
        "`404` not found, the same answer as for a record that does not exist; `—` nothing of the",
        "kind is out of anyone's scope (configuration). `login`: an anonymous visitor is sent to",
        "the sign-in page; `401/403`: the API refuses an anonymous request. A refused request",
        "changes nothing: no row of any table and no audit event.",
        "",
        "Personas (demo accounts): "
        + ", ".join(f"`{u}` ({PERSONAS[u].replace('_', ' ')})" for u in users)
        + ".",
        "",
        "| Pattern | Route | Methods | Who | anonymous | " + " | ".join(users) + " |",
        "|" + "---|" * (5 + len(users)),
    ]
    seen: set[str] = set()
    public_rows = []
    for pattern in patterns():
        rule = rule_of(pattern)
        if rule is None or pattern.name in seen:
            continue
        seen.add(pattern.name)
        if rule.category is Category.PUBLIC:
            who = "public"
            public_rows.append(f"| `{pattern.name}` | {rule.reason} |")
        elif rule.category is Category.SIGNED_IN:
            who = "signed in"
        else:
            who = ", ".join(sorted(c.value for c in rule.capabilities) + sorted(rule.roles))
        cells = [_cell(rule, u) for u in users]
        lines.append(
            f"| `{pattern.name}` | `/{_route(pattern.route)}` | {', '.join(pattern.methods)} "
            f"| {who} | {anonymous_expected(pattern, rule)} | " + " | ".join(cells) + " |"
        )
    lines += ["", "## Why the public patterns are public", "", "| Pattern | Reason |", "|---|---|"]
    lines += public_rows
    return "\n".join(lines) + "\n"
