"""Pages of the taxonomy: groups and their deadlines, violation types, routing rules, and a
form to try the routing on the real departments. System administrators only; 404 for others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from bihuan.accounts.models import Department
from bihuan.accounts.policies import Capability, can
from bihuan.audit.models import Event
from bihuan.core.errors import ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.core.forms import flash_form_errors
from bihuan.core.text import normalize_query
from bihuan.leads import routing, taxonomy_services
from bihuan.leads.models import DEPARTMENT_CHOICES, RoutingRule, ViolationGroup, ViolationType
from bihuan.leads.routing_inputs import routing_inputs
from bihuan.leads.taxonomy_forms import (
    GroupForm,
    RoutingRuleForm,
    RuleFilterForm,
    TryRoutingForm,
    TypeFilterForm,
    ViolationTypeCreateForm,
    ViolationTypeForm,
)
from bihuan.registry.models import Category
from bihuan.territory.selectors import regions_visible_to

KIND_LABELS: dict[str, Any] = dict(DEPARTMENT_CHOICES)
TYPE_OBJECT = ViolationType._meta.label_lower

VERBS = {
    "violation_type.created": gettext_lazy("created"),
    "violation_type.updated": gettext_lazy("edited"),
    "violation_type.activated": gettext_lazy("activated"),
    "violation_type.deactivated": gettext_lazy("deactivated"),
}
BASIS_LABELS = {
    "rule": gettext_lazy("routing rule"),
    "default": gettext_lazy("the type's default"),
    "fallback": gettext_lazy("fallback to the education bureau"),
    "missing": gettext_lazy("no such department covers the place"),
}


def _require(request: HttpRequest) -> None:
    if not can(request.user, Capability.TAXONOMY_MANAGE):
        raise Http404


def _kinds_label(kinds: list[str] | tuple[str, ...] | None) -> str:
    return ", ".join(str(KIND_LABELS.get(k, k)) for k in kinds or ())


def _post_error(form: Any, exc: ServiceError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


# Groups and types


@login_required
def types(request: HttpRequest) -> HttpResponse:
    """The groups with their deadlines, and the types, filtered and exportable."""
    _require(request)
    groups = list(ViolationGroup.objects.order_by("code"))
    filters = TypeFilterForm(request.GET or None)
    rows = ViolationType.objects.select_related("group").order_by("code")
    if filters.is_valid():
        query = normalize_query(filters.cleaned_data["q"] or "")
        if query:
            rows = rows.filter(Q(code__iexact=query) | Q(name__icontains=query))
        if filters.cleaned_data["group"]:
            rows = rows.filter(group=filters.cleaned_data["group"])
        if filters.cleaned_data["active"]:
            rows = rows.filter(is_active=filters.cleaned_data["active"] == "yes")
    found = list(rows)
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            "violation-types.xlsx",
            [
                _("Code"),
                _("Name"),
                _("Group"),
                _("Default lead department"),
                _("Default assisting departments"),
                _("Severity"),
                _("Disguised subject tutoring"),
                _("Active"),
                _("Legal basis"),
            ],
            (
                (
                    t.code,
                    t.name,
                    str(t.group),
                    str(KIND_LABELS.get(t.lead_kind, t.lead_kind)),
                    _kinds_label(t.assisting_kinds),
                    t.severity,
                    t.is_disguised,
                    t.is_active,
                    t.legal_basis,
                )
                for t in found
            ),
        )
    for t in found:
        t.assisting_label = _kinds_label(t.assisting_kinds)  # type: ignore[attr-defined]
    group_rows = [
        (
            g,
            GroupForm(
                initial={"name": g.name, "sign_days": g.sign_days, "reply_days": g.reply_days},
                prefix=g.code,
            ),
        )
        for g in groups
    ]
    return render(
        request,
        "leads/taxonomy/types.html",
        {"groups": group_rows, "all_groups": groups, "types": found, "filters": filters},
    )


@login_required
@require_POST
def group_update(request: HttpRequest, code: str) -> HttpResponse:
    """Rename a group or change its deadlines (the inline form of the list)."""
    _require(request)
    group = get_object_or_404(ViolationGroup, code=code)
    form = GroupForm(request.POST, prefix=group.code)
    if not form.is_valid():
        flash_form_errors(request, form)
        return redirect("taxonomy:types")
    try:
        taxonomy_services.violation_group_update(
            actor=request.user, group=group, **form.cleaned_data
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Group %(code)s saved.") % {"code": group.code})
    return redirect("taxonomy:types")


@login_required
@require_http_methods(["GET", "POST"])
def type_create(request: HttpRequest) -> HttpResponse:
    """Add a violation type."""
    _require(request)
    form = ViolationTypeCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = taxonomy_services.violation_type_create(
                actor=request.user, **form.cleaned_data
            )
        except ServiceError as exc:
            _post_error(form, exc)
        else:
            messages.success(request, _("%(code)s added.") % {"code": created.code})
            return redirect("taxonomy:type", code=created.code)
    return render(request, "leads/taxonomy/type_form.html", {"form": form})


@dataclass(frozen=True)
class HistoryEntry:
    """One audit event of a type, as its page shows it."""

    event: Event
    label: str
    # (field label, before, after), values already made readable.
    changes: list[tuple[str, str, str]]


def _readable(name: str, value: Any, group_codes: dict[int, str]) -> str:
    if value is None:
        return "—"
    if name == "group":
        return group_codes.get(value, str(value))
    if name == "lead_kind":
        return str(KIND_LABELS.get(value, value))
    if name == "assisting_kinds":
        return _kinds_label(value) or "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value) if value != "" else "—"


def _field_or_none(name: str) -> Any:
    try:
        return ViolationType._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def type_history(violation_type: ViolationType, limit: int = 200) -> list[HistoryEntry]:
    """The type's audit events, newest first, with each changed field before → after."""
    events = list(
        Event.objects.filter(object_type=TYPE_OBJECT, object_id=str(violation_type.pk)).order_by(
            "-at", "-id"
        )[:limit]
    )
    group_codes = dict(ViolationGroup.objects.values_list("pk", "code")) if events else {}
    entries = []
    for event in events:
        before, after = event.before or {}, event.after or {}
        changes = []
        for name in after:
            old, new = before.get(name), after[name]
            if before and old == new:
                continue
            # A field recorded once and since renamed keeps its name as its label.
            label = str(getattr(_field_or_none(name), "verbose_name", name))
            changes.append(
                (label, _readable(name, old, group_codes), _readable(name, new, group_codes))
            )
        entries.append(HistoryEntry(event, str(VERBS.get(event.verb, event.verb)), changes))
    return entries


def _type_page(
    request: HttpRequest, violation_type: ViolationType, form: ViolationTypeForm | None = None
) -> HttpResponse:
    rules = list(
        RoutingRule.objects.filter(violation_type=violation_type, is_active=True)
        .select_related("region")
        .order_by("category", "region__path", "pk")
    )
    for rule in rules:
        rule.assisting_label = _kinds_label(rule.assisting_kinds)  # type: ignore[attr-defined]
    return render(
        request,
        "leads/taxonomy/type_detail.html",
        {
            "vt": violation_type,
            "assisting_label": _kinds_label(violation_type.assisting_kinds),
            "form": form or ViolationTypeForm.for_type(violation_type),
            "rules": rules,
            "history": type_history(violation_type),
        },
    )


@login_required
def type_detail(request: HttpRequest, code: str) -> HttpResponse:
    """One type: its fields, edit form, activation, active rules and history."""
    _require(request)
    violation_type = get_object_or_404(ViolationType.objects.select_related("group"), code=code)
    return _type_page(request, violation_type)


@login_required
@require_POST
def type_edit(request: HttpRequest, code: str) -> HttpResponse:
    """Save the edit form of a type; a refused form is shown again on the type's page."""
    _require(request)
    violation_type = get_object_or_404(ViolationType.objects.select_related("group"), code=code)
    form = ViolationTypeForm(request.POST)
    if form.is_valid():
        try:
            taxonomy_services.violation_type_update(
                actor=request.user, violation_type=violation_type, **form.cleaned_data
            )
        except ServiceError as exc:
            _post_error(form, exc)
        else:
            messages.success(request, _("%(code)s saved.") % {"code": violation_type.code})
            return redirect("taxonomy:type", code=violation_type.code)
    return _type_page(request, violation_type, form)


@login_required
@require_POST
def type_set_active(request: HttpRequest, code: str) -> HttpResponse:
    """Activate or deactivate a type (``active`` = "1" or "0")."""
    _require(request)
    violation_type = get_object_or_404(ViolationType, code=code)
    active = request.POST.get("active")
    if active not in ("0", "1"):
        raise Http404
    try:
        taxonomy_services.violation_type_set_active(
            actor=request.user, violation_type=violation_type, is_active=active == "1"
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        message = _("%(code)s is active.") if active == "1" else _("%(code)s is inactive.")
        messages.success(request, message % {"code": violation_type.code})
    return redirect("taxonomy:type", code=violation_type.code)


# Routing rules


def _rule_form(request: HttpRequest, data: Any = None, initial: Any = None) -> RoutingRuleForm:
    form = RoutingRuleForm(data, initial=initial)
    form.fields["region"].regions = regions_visible_to(request.user)  # type: ignore[attr-defined]
    return form


def _rules_page(request: HttpRequest, form: RoutingRuleForm | None = None) -> HttpResponse:
    filters = RuleFilterForm(request.GET or None)
    rows = RoutingRule.objects.select_related("violation_type", "region").order_by(
        "violation_type__code", "category", "region__path", "-pk"
    )
    chosen = None
    include_inactive = False
    if filters.is_valid():
        chosen = filters.cleaned_data["type"]
        include_inactive = filters.cleaned_data["inactive"]
    if chosen is not None:
        rows = rows.filter(violation_type=chosen)
    if not include_inactive:
        rows = rows.filter(is_active=True)
    found = list(rows)
    for rule in found:
        rule.assisting_label = _kinds_label(rule.assisting_kinds)  # type: ignore[attr-defined]
    if form is None:
        form = _rule_form(request, initial={"violation_type": chosen.code if chosen else None})
    return render(
        request,
        "leads/taxonomy/rules.html",
        {"rules": found, "filters": filters, "form": form, "chosen": chosen},
    )


@login_required
def rules(request: HttpRequest) -> HttpResponse:
    """The routing rules, filtered by type, and the form to add one."""
    _require(request)
    return _rules_page(request)


@login_required
@require_POST
def rule_create(request: HttpRequest) -> HttpResponse:
    """Add a routing rule; a refused form is shown again with the list."""
    _require(request)
    form = _rule_form(request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            rule = taxonomy_services.routing_rule_create(
                actor=request.user,
                violation_type=data["violation_type"],
                category=data["category"],
                region=data["region"],
                lead_kind=data["lead_kind"],
                assisting_kinds=data["assisting_kinds"],
                note=data["note"],
            )
        except ServiceError as exc:
            _post_error(form, exc)
        else:
            messages.success(
                request, _("Rule added for %(code)s.") % {"code": rule.violation_type.code}
            )
            return redirect(f"{reverse('taxonomy:rules')}?type={rule.violation_type.code}")
    return _rules_page(request, form)


@login_required
@require_POST
def rule_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop applying a rule (kept, inactive)."""
    _require(request)
    rule = get_object_or_404(RoutingRule.objects.select_related("violation_type"), pk=pk)
    try:
        taxonomy_services.routing_rule_deactivate(actor=request.user, rule=rule)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The rule was deactivated."))
    return redirect(f"{reverse('taxonomy:rules')}?type={rule.violation_type.code}")


# Trying the routing


@dataclass(frozen=True)
class ShownRouted:
    """A routed department with its name and readable reasons."""

    department: Department | None
    kind: str
    reasons: list[str]


def _reason(why: routing.Why) -> str:
    text = _("%(type)s: %(basis)s") % {"type": why.type_code, "basis": BASIS_LABELS[why.basis]}
    if why.rule_id is not None:
        text += " " + _("(rule #%(id)d)") % {"id": why.rule_id}
    if why.basis in ("rule", "default"):
        text += " " + (_("as lead department") if why.as_lead_of_type else _("as assisting"))
    return text


@login_required
def try_routing(request: HttpRequest) -> HttpResponse:
    """Where a lead with these types, this licence category and this place would go today."""
    _require(request)
    form = TryRoutingForm(request.GET or None)
    form.fields["region"].regions = regions_visible_to(request.user)  # type: ignore[attr-defined]
    context: dict[str, Any] = {"form": form}
    if form.is_bound and form.is_valid():
        chosen = sorted(form.cleaned_data["types"], key=lambda t: t.code)
        region = form.cleaned_data["region"]
        category = form.cleaned_data["category"]
        type_specs, rule_specs, department_specs = routing_inputs(chosen, region)
        decided = routing.route(
            type_specs, rule_specs, department_specs, category=category, region_path=region.path
        )
        departments = Department.objects.select_related("jurisdiction").in_bulk(
            [r.department_id for r in decided.all]
        )

        def shown(routed: routing.Routed) -> ShownRouted:
            return ShownRouted(
                departments.get(routed.department_id),
                str(KIND_LABELS.get(routed.kind, routed.kind)),
                [_reason(w) for w in routed.why],
            )

        context |= {
            "region": region,
            "category_label": Category(category).label,
            "lead": shown(decided.lead) if decided.lead else None,
            "assisting": [shown(r) for r in decided.assisting],
            "left_out": [
                _("%(kind)s, for %(type)s: no active department of this kind covers %(place)s.")
                % {
                    "kind": KIND_LABELS.get(w.kind, w.kind),
                    "type": w.type_code,
                    "place": region.name,
                }
                for w in decided.left_out
            ],
            "rules_used": len(rule_specs),
        }
    return render(request, "leads/taxonomy/try.html", context)
