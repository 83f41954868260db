"""The bureau's pages of the loop: the triage queue, reporting a lead, the lead page with its
actions, and joint operations.

Every lead comes from a scoped selector: one outside the user's place is a 404, and so is an
action the user may not take on a lead they can see. Each action calls one service; a refusal
becomes a message, never a 500. An htmx post gets the lead's panel back; a plain post is
redirected to the lead page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from bihuan.accounts.models import Department, Role
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.cases.selectors import case_of_lead
from bihuan.cases.services import may_record
from bihuan.core.crypto import phone_query_hash
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.leads import forms_bureau as forms
from bihuan.leads import routing, services
from bihuan.leads.models import (
    DEPARTMENT_CHOICES,
    ExtensionRequest,
    JointOperation,
    Lead,
    ViolationType,
    WorkOrder,
)
from bihuan.leads.routing_inputs import routing_inputs
from bihuan.leads.selectors import (
    departments_covering,
    joint_decidable_by,
    joint_operations_visible_to,
    joint_team_candidates,
    lead_by_reference,
    leads_triaged_by,
    leads_visible_to,
    may_see_reporter,
    may_triage,
    violation_types_active,
)
from bihuan.leads.timeline import lead_timeline
from bihuan.leads.workflow import (
    LEAD_OPEN,
    ExtensionStatus,
    JointStatus,
    LeadSource,
    LeadStatus,
)
from bihuan.registry.matching import MatchInput, find_matches
from bihuan.registry.models import Category
from bihuan.registry.search import search_institutions
from bihuan.registry.selectors import institutions_current
from bihuan.territory.models import Level, Region, Sentinel
from bihuan.territory.selectors import regions_visible_to

PAGE_SIZE = 50
ORDERINGS = {
    "-created": ("-created_at", "-pk"),
    "created": ("created_at", "pk"),
    "due": ("due_at", "pk"),
    "-due": ("-due_at", "-pk"),
}
TAB_STATUSES = {
    "new": [LeadStatus.NEW],
    "accepted": [LeadStatus.ACCEPTED],
    "dispatched": [LeadStatus.DISPATCHED],
    "replied": [LeadStatus.REPLIED],
    "verified": [LeadStatus.VERIFIED],
    "closed": [LeadStatus.CLOSED, LeadStatus.DISMISSED, LeadStatus.MERGED],
}
REPORT_TOKENS = "leads.report_tokens"
# Tokens a session keeps: enough for a few forms open in tabs, bounded so the session stays small.
REPORT_TOKENS_KEPT = 20
INSTITUTION_HITS = 10
COMMUNITY_CHOICES_MAX = 300
JOINT_REASONS = {
    "departments": gettext_lazy("several departments are involved"),
    "unlicensed": gettext_lazy("the institution is unlicensed or unknown"),
    "repeat": gettext_lazy("a repeat offence within two years"),
    "severity": gettext_lazy("a violation of high severity"),
}
KIND_LABELS: dict[str, Any] = dict(DEPARTMENT_CHOICES)
BASIS_LABELS = {
    "rule": gettext_lazy("routing rule"),
    "default": gettext_lazy("the type's default"),
    "fallback": gettext_lazy("fallback to the education bureau"),
    "missing": gettext_lazy("no such department covers the place"),
}


def _require(request: HttpRequest, capability: Capability) -> None:
    if not can(request.user, capability):
        raise Http404


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# ---------------------------------------------------------------------------- the queue


def _queue_rows(request: HttpRequest, values: dict[str, str]) -> QuerySet[Lead]:
    """The supervisor's leads, filtered by everything but the tab."""
    rows = leads_triaged_by(request.user)
    if "source" in values:
        rows = rows.filter(source=values["source"])
    if "type" in values:
        rows = rows.filter(violation_types__code=values["type"].upper())
    if "region" in values:
        rows = rows.filter(region__code__startswith=values["region"])
    if "q" in values:
        text = values["q"]
        matches = (
            Q(reference__icontains=text)
            | Q(description__icontains=text)
            | Q(place_name__icontains=text)
            | Q(address__icontains=text)
            | Q(institution__name__icontains=text)
        )
        phone = phone_query_hash(text)
        if phone is not None:
            # The reporter's phone is encrypted: found by the whole number, through its hash.
            matches |= Q(reporter_phone_hash=phone)
        rows = rows.filter(matches)
    return rows.distinct() if "type" in values else rows


def _overdue_q(now: Any) -> Q:
    return Q(status__in=sorted(LEAD_OPEN), due_at__lt=now)


def _tab(rows: QuerySet[Lead], tab: str, now: Any) -> QuerySet[Lead]:
    if tab == "overdue":
        return rows.filter(_overdue_q(now))
    if tab in TAB_STATUSES:
        return rows.filter(status__in=TAB_STATUSES[tab])
    return rows


def _tab_counts(rows: QuerySet[Lead], now: Any) -> dict[str, int]:
    """Every tab's count in one query."""
    aggregates = {
        tab: Count("pk", filter=Q(status__in=statuses)) for tab, statuses in TAB_STATUSES.items()
    }
    aggregates["overdue"] = Count("pk", filter=_overdue_q(now))
    aggregates["all"] = Count("pk")
    plain = Lead.objects.filter(pk__in=rows.values("pk"))
    return plain.aggregate(**aggregates)


EXPORT_HEADER = [
    gettext_lazy("Reference"),
    gettext_lazy("Created"),
    gettext_lazy("Source"),
    gettext_lazy("Status"),
    gettext_lazy("Place"),
    gettext_lazy("Region code"),
    gettext_lazy("Violation types"),
    gettext_lazy("Owner"),
    gettext_lazy("Deadline"),
    gettext_lazy("Overdue"),
    gettext_lazy("Description"),
]


def _export_rows(rows: QuerySet[Lead], now: Any) -> Iterator[list[Any]]:
    for lead in rows:
        yield [
            lead.reference,
            lead.created_at,
            lead.get_source_display(),
            lead.get_status_display(),
            lead.place_label,
            lead.region.code,
            " ".join(t.code for t in lead.violation_types.all()),
            lead.owner_department.short_name if lead.owner_department else "",
            lead.due_at,
            bool(lead.is_open and lead.due_at and lead.due_at < now),
            lead.description,
        ]


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """The bureau's triage queue: tabs by status, filters, sorting, paging and an XLSX export."""
    if not can(request.user, Capability.LEAD_TRIAGE):
        if can(request.user, Capability.ORDER_HANDLE):
            return redirect("leads:inbox")
        raise Http404
    form = forms.QueueFilterForm(request.GET)
    values = form.values()
    tab = values.get("tab", "new")
    now = timezone.now()
    filtered = _queue_rows(request, values)
    rows = (
        _tab(filtered, tab, now)
        .select_related("owner_department", "region", "institution")
        .prefetch_related(Prefetch("violation_types", queryset=ViolationType.objects.only("code")))
        .order_by(*ORDERINGS[values.get("sort", "-created")])
    )
    if request.GET.get("format") == "xlsx":
        return xlsx_response("leads.xlsx", [str(h) for h in EXPORT_HEADER], _export_rows(rows, now))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = _tab_counts(filtered, now)
    context = {
        "page": page,
        "form": form,
        "values": values,
        "tab": tab,
        "tabs": [(key, label, counts.get(key, 0)) for key, label in forms.TABS],
        "now": now,
    }
    if _is_htmx(request):
        return render(request, "leads/bureau/queue.html#results", context)
    return render(request, "leads/bureau/queue.html", context)


# ---------------------------------------------------------------------------- reporting


def _report_sources(user: Any) -> list[tuple[str, Any]]:
    """Which sources the user may report under (a school sentinel: their school's only)."""
    scope = scope_of(user)
    if scope.has(Role.SUPERVISOR):
        return [
            (s, LeadSource(s).label)
            for s in (
                LeadSource.BUREAU,
                LeadSource.REFERRAL,
                LeadSource.MONITORING,
                LeadSource.TIP,
            )
        ]
    if scope.has(Role.COORDINATOR):
        return [(LeadSource.INSPECTION, LeadSource.INSPECTION.label)]
    return [(LeadSource.SCHOOL, LeadSource.SCHOOL.label)]


def _report_sentinels(user: Any) -> list[tuple[int, str]]:
    scope = scope_of(user)
    if scope.has(Role.SUPERVISOR) or not scope.has(Role.SCHOOL_SENTINEL):
        return []
    return [
        (s.pk, s.name) for s in Sentinel.objects.filter(pk__in=scope.sentinel_ids).order_by("name")
    ]


def _report_form(request: HttpRequest, data: Any = None) -> forms.ReportForm:
    user = request.user
    communities = (
        regions_visible_to(user)
        .filter(level=Level.COMMUNITY, is_active=True)
        .order_by("path")[:COMMUNITY_CHOICES_MAX]
    )
    types = violation_types_active() if can(user, Capability.LEAD_TRIAGE) else None
    return forms.ReportForm(
        data,
        sources=_report_sources(user),
        sentinels=_report_sentinels(user),
        communities=[(r.code, f"{r.name} {r.code}") for r in communities],
        types=types,
        initial={"token": _issue_token(request)},
    )


def _issue_token(request: HttpRequest) -> str:
    """A one-time token for a report form; the session remembers the ones not used yet."""
    token = uuid.uuid4().hex
    issued = list(request.session.get(REPORT_TOKENS, []))[-(REPORT_TOKENS_KEPT - 1) :]
    request.session[REPORT_TOKENS] = [*issued, token]
    return token


def _spend_token(request: HttpRequest, token: str) -> bool:
    """Use up a token; False when it was never issued or already used (a second submit)."""
    issued = list(request.session.get(REPORT_TOKENS, []))
    if not token or token not in issued:
        return False
    issued.remove(token)
    request.session[REPORT_TOKENS] = issued
    return True


def _after_report(request: HttpRequest, lead: Lead | None) -> HttpResponse:
    scope = scope_of(request.user)
    if lead is not None and scope.roles & {Role.SUPERVISOR, Role.COORDINATOR}:
        return redirect("leads:detail", pk=lead.pk)
    if scope.roles & {Role.SUPERVISOR, Role.COORDINATOR}:
        return redirect("leads:queue" if scope.has(Role.SUPERVISOR) else "leads:report")
    return redirect("leads:mine")


@login_required
@sensitive_post_parameters("reporter_phone")
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    """Enter a lead: the bureau, a community coordinator, or a school sentinel for their school."""
    _require(request, Capability.LEAD_REPORT)
    if request.method != "POST":
        return render(request, "leads/bureau/report.html", {"form": _report_form(request)})
    if not _spend_token(request, request.POST.get("token", "")):
        messages.warning(request, _("This report was already submitted."))
        return _after_report(request, None)
    form = _report_form(request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            lead = services.lead_create(
                actor=request.user,
                source=data["source"],
                description=data["description"],
                region=_region_of(request, data.get("region", "")),
                institution=_institution_of(request, data.get("institution")),
                place_name=data["place_name"],
                address=data["address"],
                latitude=data["latitude"],
                longitude=data["longitude"],
                sentinel=_sentinel_of(request, data.get("sentinel")),
                reporter_name=data["reporter_name"],
                reporter_phone=data["reporter_phone"],
                is_anonymous=data["is_anonymous"],
                violation_types=list(data.get("violation_types") or []),
                files=request.FILES.getlist("evidence"),
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Lead %(ref)s recorded.") % {"ref": lead.reference})
            return _after_report(request, lead)
    # The token was spent on this attempt: the corrected form needs a fresh one.
    fresh = request.POST.copy()
    fresh["token"] = _issue_token(request)
    form.data = fresh
    return render(request, "leads/bureau/report.html", {"form": form})


def _region_of(request: HttpRequest, code: str) -> Region | None:
    if not code:
        return None
    region = regions_visible_to(request.user).filter(code=code).first()
    if region is None:
        raise ServiceError(_("No region has code %(c)s.") % {"c": code}, field="region")
    return region


def _institution_of(request: HttpRequest, pk: int | None) -> Any:
    if not pk:
        return None
    institution = institutions_current(request.user).filter(pk=pk).first()
    if institution is None:
        raise ServiceError(_("Choose an institution from the search."), field="institution")
    return institution


def _sentinel_of(request: HttpRequest, pk: int | None) -> Sentinel | None:
    if not pk:
        return None
    if pk not in scope_of(request.user).sentinel_ids:
        raise ServiceError(_("A school sentinel reports for their own school."), field="sentinel")
    return Sentinel.objects.get(pk=pk)


@login_required
def institution_search(request: HttpRequest) -> HttpResponse:
    """htmx: institutions of the user's place matching what they typed, to pick one."""
    if not (can(request.user, Capability.LEAD_REPORT) or can(request.user, Capability.LEAD_TRIAGE)):
        raise Http404
    query = request.GET.get("q", "").strip()
    hits = []
    if query:
        rows = institutions_current(request.user).select_related("region")
        hits = list(search_institutions(rows, query)[:INSTITUTION_HITS])
    return render(
        request,
        "leads/bureau/report.html#institution_hits",
        {"hits": hits, "query": query, "field": request.GET.get("field", "institution")},
    )


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """The leads the user reported, with their status only."""
    _require(request, Capability.LEAD_REPORT)
    rows = (
        leads_visible_to(request.user)
        .filter(reporter_id=request.user.pk)
        .select_related("institution")
        .order_by("-created_at", "-pk")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "leads/bureau/mine.html", {"page": page})


# ---------------------------------------------------------------------------- the lead page


def _visible_lead(request: HttpRequest, pk: int) -> Lead:
    return get_object_or_404(
        leads_visible_to(request.user).select_related(
            "institution", "region", "owner_department", "sentinel", "merged_into", "area"
        ),
        pk=pk,
    )


def _triaged_lead(request: HttpRequest, pk: int) -> Lead:
    """A lead the user may act on as the bureau; a lead they may not is as good as missing."""
    _require(request, Capability.LEAD_TRIAGE)
    lead = _visible_lead(request, pk)
    if not may_triage(request.user, lead):
        raise Http404
    return lead


def _full_view(user: Any) -> bool:
    """A reporter who is nothing else sees the status of their lead, not the departments' work."""
    return bool(
        scope_of(user).roles
        & {Role.SUPERVISOR, Role.COORDINATOR, Role.OFFICER, Role.AREA_RESPONSIBLE}
    )


def _type_groups(types: list[ViolationType]) -> list[tuple[Any, list[ViolationType]]]:
    groups: dict[int, tuple[Any, list[ViolationType]]] = {}
    for t in types:
        groups.setdefault(t.group_id, (t.group, []))[1].append(t)
    return list(groups.values())


def _routing_preview(lead: Lead) -> dict[str, Any]:
    """Where dispatching would send the lead now, and why, before the supervisor confirms."""
    types = list(lead.violation_types.all())
    if not types:
        return {"error": _("Classify the lead before dispatching it.")}
    category = lead.institution.category if lead.institution else Category.NONE
    type_specs, rule_specs, dept_specs = routing_inputs(types, lead.region)
    result = routing.route(
        type_specs, rule_specs, dept_specs, category=category, region_path=lead.region.path
    )
    if result.lead is None:
        return {"error": _("No department covers this place; ask an administrator.")}
    names = Department.objects.in_bulk([r.department_id for r in result.all])
    return {
        "rows": [
            {
                "department": names.get(r.department_id),
                "role": r.role,
                "why": services.explain(r.why),
            }
            for r in result.all
        ],
        "left_out": [
            _("%(code)s: %(kind)s — %(basis)s")
            % {
                "code": w.type_code,
                "kind": KIND_LABELS.get(w.kind, w.kind),
                "basis": BASIS_LABELS.get(w.basis, w.basis),
            }
            for w in result.left_out
        ],
    }


def _suggestions(request: HttpRequest, lead: Lead) -> list[tuple[Any, Any]]:
    """Registry records the matcher finds alike the place the reporter named."""
    if lead.institution_id or not lead.place_name:
        return []
    community_id = lead.region_id if lead.region.level == Level.COMMUNITY else None
    inp = MatchInput.from_fields(
        name=lead.place_name, address=lead.address, community_id=community_id
    )
    return find_matches(inp, institutions_current(request.user), limit=5, minimum=50.0)


def _lead_context(request: HttpRequest, lead: Lead) -> dict[str, Any]:
    user = request.user
    can_triage = can(user, Capability.LEAD_TRIAGE) and may_triage(user, lead)
    full = _full_view(user)
    context: dict[str, Any] = {
        "lead": lead,
        "now": timezone.now(),
        "full": full,
        "can_triage": can_triage,
        # Never for a department, even when its officer could see the lead otherwise.
        "show_reporter": may_see_reporter(user, lead)
        and (can_triage or not scope_of(user).has(Role.OFFICER)),
        "types": list(lead.violation_types.select_related("group").order_by("code")),
        "attachments": list(lead.attachments.filter(work_order__isnull=True)),
        "show_messages": _is_htmx(request),
    }
    if not full:
        return context
    pending = Prefetch(
        "extensions",
        queryset=ExtensionRequest.objects.filter(status=ExtensionStatus.PENDING),
        to_attr="pending_extensions",
    )
    orders = list(
        lead.work_orders.select_related("department", "proposed_department", "reassigned_to")
        .prefetch_related(pending, "attachments")
        .order_by("pk")
    )
    context |= {
        "orders": orders,
        "timeline": lead_timeline(lead, user),
        "joint_operations": list(
            joint_operations_visible_to(user).filter(leads=lead).prefetch_related("departments")
        ),
        "case": case_of_lead(user, lead.pk),
        "can_record": may_record(user, lead),
    }
    if can_triage:
        context |= _triage_context(request, lead)
    return context


def _triage_context(request: HttpRequest, lead: Lead) -> dict[str, Any]:
    active = list(violation_types_active().order_by("group__code", "code"))
    chosen = {t.pk for t in lead.violation_types.all()}
    covering = departments_covering(lead.region).order_by("jurisdiction__depth", "kind", "pk")
    context: dict[str, Any] = {
        "type_groups": _type_groups(active),
        "chosen_types": chosen,
        "closure_form": forms.CloseForm(),
        "closure_reasons": forms.CloseForm().fields["reason"].choices,  # type: ignore[attr-defined]
        "departments": list(covering),
    }
    if lead.is_open and not lead.institution_id:
        context["suggestions"] = _suggestions(request, lead)
    if lead.status == LeadStatus.ACCEPTED:
        context["preview"] = _routing_preview(lead)
    return context


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One lead: what was reported, where it went, who did what, and the bureau's actions."""
    lead = _visible_lead(request, pk)
    return render(request, "leads/bureau/detail.html", _lead_context(request, lead))


def _answer(request: HttpRequest, lead: Lead, *, done: str = "", error: str = "") -> HttpResponse:
    """htmx: the lead's panel with the outcome; plainly: back to the lead page with a message."""
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    if _is_htmx(request):
        lead = _visible_lead(request, lead.pk)
        return render(request, "leads/bureau/detail.html#panel", _lead_context(request, lead))
    return redirect("leads:detail", pk=lead.pk)


def _form_error(form: django_forms.Form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _run(request: HttpRequest, lead: Lead, call: Callable[[], Any], done: str) -> HttpResponse:
    """Call one service; its refusal is a message, a refusal of the actor a 404."""
    try:
        call()
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        return _answer(request, lead, error=exc.message)
    return _answer(request, lead, done=done)


def _linkable(request: HttpRequest, pk: int | None) -> Any:
    if not pk:
        return None
    institution = institutions_current(request.user).filter(pk=pk).first()
    if institution is None:
        raise ServiceError(_("Choose an institution from the search."))
    return institution


@login_required
@require_POST
def lead_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One of the bureau's moves on a lead: accept, classify, link, merge, dismiss, dispatch,
    close, reopen, add evidence."""
    if action not in LEAD_ACTIONS:
        raise Http404
    lead = _triaged_lead(request, pk)
    form_class, build, done = LEAD_ACTIONS[action]
    form = form_class(request.POST)
    if not form.is_valid():
        return _answer(request, lead, error=_form_error(form))
    user = request.user

    def call() -> Any:
        return build(request, user, lead, form.cleaned_data)

    return _run(request, lead, call, str(done))


def _accept(request: HttpRequest, user: Any, lead: Lead, d: dict[str, Any]) -> Any:
    return services.lead_accept(
        actor=user,
        lead=lead,
        violation_types=list(d["violation_types"]),
        institution=_linkable(request, d.get("institution")),
    )


def _merge(request: HttpRequest, user: Any, lead: Lead, d: dict[str, Any]) -> Any:
    into = lead_by_reference(user, d["reference"])
    if into is None:
        raise ServiceError(
            _("No lead you can see has the reference %(r)s.") % {"r": d["reference"]}
        )
    return services.lead_merge(actor=user, lead=lead, into=into)


LeadBuild = Callable[[HttpRequest, Any, Lead, dict[str, Any]], Any]
LEAD_ACTIONS: dict[str, tuple[type[django_forms.Form], LeadBuild, Any]] = {
    "accept": (forms.TypesForm, _accept, gettext_lazy("Lead accepted.")),
    "classify": (
        forms.TypesForm,
        lambda r, u, lead, d: services.lead_classify(
            actor=u, lead=lead, violation_types=list(d["violation_types"])
        ),
        gettext_lazy("Violation types changed."),
    ),
    "link": (
        forms.LinkForm,
        lambda r, u, lead, d: services.lead_link_institution(
            actor=u, lead=lead, institution=_linkable(r, d["institution"])
        ),
        gettext_lazy("Linked to the institution."),
    ),
    "merge": (forms.MergeForm, _merge, gettext_lazy("Merged into the other lead.")),
    "dismiss": (
        forms.ReasonForm,
        lambda r, u, lead, d: services.lead_dismiss(actor=u, lead=lead, reason=d["reason"]),
        gettext_lazy("Lead dismissed."),
    ),
    "dispatch": (
        django_forms.Form,
        lambda r, u, lead, d: services.lead_dispatch(actor=u, lead=lead),
        gettext_lazy("Lead dispatched to the departments."),
    ),
    "close": (
        forms.CloseForm,
        lambda r, u, lead, d: services.lead_close(
            actor=u, lead=lead, reason=d["reason"], note=d["note"]
        ),
        gettext_lazy("Lead closed."),
    ),
    "reopen": (
        forms.ReasonForm,
        lambda r, u, lead, d: services.lead_reopen(actor=u, lead=lead, reason=d["reason"]),
        gettext_lazy("Lead reopened."),
    ),
    "evidence": (
        forms.EvidenceForm,
        lambda r, u, lead, d: services.attachment_add(
            actor=u, lead=lead, files=r.FILES.getlist("evidence")
        ),
        gettext_lazy("Evidence added."),
    ),
}


def _reassign(request: HttpRequest, user: Any, order: WorkOrder, d: dict[str, Any]) -> Any:
    return services.work_order_reassign(
        actor=user, order=order, department=d["department"], note=d["note"]
    )


OrderBuild = Callable[[HttpRequest, Any, WorkOrder, dict[str, Any]], Any]
ORDER_ACTIONS: dict[str, tuple[Any, OrderBuild, Any]] = {
    "accept": (
        django_forms.Form,
        lambda r, u, o, d: services.work_order_accept(actor=u, order=o),
        gettext_lazy("Reply accepted."),
    ),
    "redo": (
        forms.ReasonForm,
        lambda r, u, o, d: services.work_order_redo(actor=u, order=o, reason=d["reason"]),
        gettext_lazy("Sent back for redo."),
    ),
    "urge": (
        forms.NoteForm,
        lambda r, u, o, d: services.work_order_urge(actor=u, order=o, note=d["note"]),
        gettext_lazy("The department was urged."),
    ),
    "supervise": (
        forms.RequiredNoteForm,
        lambda r, u, o, d: services.work_order_supervise(actor=u, order=o, note=d["note"]),
        gettext_lazy("The order is under supervision."),
    ),
    "reassign": (forms.ReassignForm, _reassign, gettext_lazy("Work order reassigned.")),
    "refuse_return": (
        forms.RequiredNoteForm,
        lambda r, u, o, d: services.work_order_refuse_return(actor=u, order=o, note=d["note"]),
        gettext_lazy("Return refused; the order went back to the department."),
    ),
}


@login_required
@require_POST
def order_action(request: HttpRequest, pk: int, order_pk: int, action: str) -> HttpResponse:
    """One of the bureau's moves on a work order of the lead."""
    if action not in ORDER_ACTIONS:
        raise Http404
    lead = _triaged_lead(request, pk)
    order = get_object_or_404(lead.work_orders.select_related("department"), pk=order_pk)
    form_class, build, done = ORDER_ACTIONS[action]
    if form_class is forms.ReassignForm:
        form = form_class(request.POST, departments=departments_covering(lead.region))
    else:
        form = form_class(request.POST)
    if not form.is_valid():
        return _answer(request, lead, error=_form_error(form))
    user = request.user
    return _run(request, lead, lambda: build(request, user, order, form.cleaned_data), str(done))


@login_required
@require_POST
def extension_action(request: HttpRequest, pk: int, extension_pk: int) -> HttpResponse:
    """Approve or refuse a department's request for more time."""
    lead = _triaged_lead(request, pk)
    extension = get_object_or_404(
        ExtensionRequest.objects.select_related("work_order"),
        pk=extension_pk,
        work_order__lead=lead,
    )
    form = forms.ExtensionDecisionForm(request.POST)
    if not form.is_valid():
        return _answer(request, lead, error=_form_error(form))
    approve = form.cleaned_data["approve"]
    return _run(
        request,
        lead,
        lambda: services.extension_decide(
            actor=request.user, request=extension, approve=approve, note=form.cleaned_data["note"]
        ),
        _("Extension approved.") if approve else _("Extension refused."),
    )


# ---------------------------------------------------------------------------- joint operations


def _require_joint_reader(request: HttpRequest) -> None:
    roles = scope_of(request.user).roles
    if not roles & {Role.SUPERVISOR, Role.OFFICER, Role.AREA_RESPONSIBLE}:
        raise Http404


@login_required
def joint_list(request: HttpRequest) -> HttpResponse:
    """The planner: proposed operations to decide, confirmed ones by date, then the past."""
    _require_joint_reader(request)
    rows = joint_operations_visible_to(request.user).select_related("region")
    rows = rows.prefetch_related(
        Prefetch("leads", queryset=Lead.objects.only("pk", "reference")), "departments"
    )
    operations = list(rows.order_by("planned_for", "-created_at", "-pk"))
    sections = [
        (status, label, [op for op in operations if op.status == status])
        for status, label in JointStatus.choices
    ]
    return render(
        request,
        "leads/bureau/joint_list.html",
        {"sections": sections, "reasons": JOINT_REASONS},
    )


def _joint_context(request: HttpRequest, operation: JointOperation) -> dict[str, Any]:
    may_decide = joint_decidable_by(request.user, operation)
    context: dict[str, Any] = {
        "operation": operation,
        "reasons": [JOINT_REASONS.get(r, r) for r in operation.reasons or []],
        "leads": list(
            leads_visible_to(request.user).filter(joint_operations=operation).order_by("pk")
        ),
        "departments": list(operation.departments.order_by("pk")),
        "participants": list(operation.participants.select_related("department", "user")),
        "may_decide": may_decide,
        "show_messages": _is_htmx(request),
    }
    if may_decide and operation.status == JointStatus.PROPOSED:
        covering = departments_covering(operation.region).order_by("jurisdiction__depth", "pk")
        context["confirm_form"] = forms.JointConfirmForm(
            departments=covering,
            people=joint_team_candidates(operation),
            initial={"departments": [d.pk for d in context["departments"]]},
        )
        context["decline_form"] = forms.ReasonForm()
    if may_decide and operation.status == JointStatus.CONFIRMED:
        context["record_form"] = forms.JointRecordForm(
            participants=operation.participants.all(),
            departments=departments_covering(operation.region),
        )
    return context


def _visible_joint(request: HttpRequest, pk: int) -> JointOperation:
    _require_joint_reader(request)
    return get_object_or_404(
        joint_operations_visible_to(request.user).select_related("region", "decided_by"), pk=pk
    )


@login_required
def joint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One joint operation: why, which leads and departments, the team; the bureau decides."""
    operation = _visible_joint(request, pk)
    return render(request, "leads/bureau/joint.html", _joint_context(request, operation))


def _joint_answer(
    request: HttpRequest, operation: JointOperation, *, done: str = "", error: str = ""
) -> HttpResponse:
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    if _is_htmx(request):
        operation = _visible_joint(request, operation.pk)
        return render(request, "leads/bureau/joint.html#panel", _joint_context(request, operation))
    return redirect("leads:joint", pk=operation.pk)


@login_required
@require_POST
def joint_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Confirm, decline or record a joint operation (the bureau of its place only)."""
    operation = _visible_joint(request, pk)
    if action not in ("confirm", "decline", "record"):
        raise Http404
    if not joint_decidable_by(request.user, operation):
        raise Http404
    covering = departments_covering(operation.region)
    form: django_forms.Form
    if action == "confirm":
        form = forms.JointConfirmForm(
            request.POST, departments=covering, people=joint_team_candidates(operation)
        )
    elif action == "decline":
        form = forms.ReasonForm(request.POST)
    else:
        form = forms.JointRecordForm(
            request.POST, participants=operation.participants.all(), departments=covering
        )
    if not form.is_valid():
        return _joint_answer(request, operation, error=_form_error(form))
    d = form.cleaned_data
    try:
        if action == "confirm":
            services.joint_confirm(
                actor=request.user,
                operation=operation,
                planned_for=d["planned_for"],
                departments=list(d["departments"]),
                team=list(d["team"]),
                named=d["named"],
            )
            done = _("Joint operation confirmed.")
        elif action == "decline":
            services.joint_decline(actor=request.user, operation=operation, reason=d["reason"])
            done = _("Joint operation declined.")
        else:
            services.joint_record(
                actor=request.user,
                operation=operation,
                outcome=d["outcome"],
                absent=list(d["absent"]),
                extra=d["extra"],
            )
            done = _("Joint operation recorded.")
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        return _joint_answer(request, operation, error=exc.message)
    return _joint_answer(request, operation, done=done)
