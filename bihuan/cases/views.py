"""Pages of cases: the list, a case's page with its action forms, and opening a case on a lead.

Every case comes from a scoped selector: one outside the user's place is a 404, and so is an
action the user may not take on it. Action forms post with htmx and get the case's panel back;
without JavaScript they post plainly and are redirected to the case page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from bihuan.audit.models import Event
from bihuan.cases import forms, services
from bihuan.cases.models import Case, CaseStatus, Refund, RefundStatus
from bihuan.cases.selectors import cases_visible_to, refunds_visible_to
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.leads.selectors import leads_visible_to
from bihuan.territory.models import Region

PAGE_SIZE = 50
ORDERINGS: dict[str, tuple[Any, ...]] = {
    "-opened": ("-opened_at", "-pk"),
    "opened": ("opened_at", "pk"),
    "-concluded": (F("concluded_at").desc(nulls_last=True), "-pk"),
    "concluded": (F("concluded_at").asc(nulls_last=True), "pk"),
}
# A region typed in the filter matches places by name or code; this many places at most.
REGION_MATCHES_MAX = 50


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(fen) / 100


def _shown_yuan(fen: int | None) -> str:
    return "" if fen is None else f"{Decimal(fen) / 100:,.2f}"


def _filtered(request: HttpRequest, values: dict[str, Any]) -> QuerySet[Case]:
    verified = Q(refunds__status=RefundStatus.VERIFIED)
    rows = (
        cases_visible_to(request.user)
        .select_related("lead", "region", "institution", "department")
        .annotate(
            refund_count=Count("refunds"),
            refunded_fen=Sum("refunds__amount_fen", filter=verified),
            refunded_families=Sum("refunds__families", filter=verified),
        )
    )
    if "status" in values:
        rows = rows.filter(status=values["status"])
    if "disguised" in values:
        rows = rows.filter(is_disguised=values["disguised"] == "1")
    if "refunds" in values:
        has = Exists(Refund.objects.filter(case_id=OuterRef("pk")))
        rows = rows.filter(has if values["refunds"] == "1" else ~has)
    if "region" in values:
        text = values["region"]
        paths = list(
            Region.objects.filter(Q(name__icontains=text) | Q(code=text)).values_list(
                "path", flat=True
            )[:REGION_MATCHES_MAX]
        )
        where = Q(pk__in=[])
        for path in paths:
            where |= Q(region__path__startswith=path)
        rows = rows.filter(where)
    return rows.order_by(*ORDERINGS[values.get("sort", "-opened")])


EXPORT_HEADER = [
    gettext_lazy("Lead"),
    gettext_lazy("Institution"),
    gettext_lazy("Region code"),
    gettext_lazy("Region"),
    gettext_lazy("Handled by"),
    gettext_lazy("Status"),
    gettext_lazy("Outcomes"),
    gettext_lazy("Rectify by"),
    gettext_lazy("Re-inspection"),
    gettext_lazy("Penalty (yuan)"),
    gettext_lazy("Legal basis of the penalty"),
    gettext_lazy("Decision number"),
    gettext_lazy("Disguised subject tutoring"),
    gettext_lazy("Refunds"),
    gettext_lazy("Verified refunds (yuan)"),
    gettext_lazy("Families refunded"),
    gettext_lazy("Opened"),
    gettext_lazy("Concluded"),
]


def _export_rows(rows: QuerySet[Case]) -> Iterator[list[Any]]:
    for case in rows.iterator(chunk_size=2000):
        yield [
            case.lead.reference,
            case.institution.name if case.institution else case.lead.place_label,
            case.region.code,
            case.region.name,
            case.department.short_name,
            case.get_status_display(),
            "、".join(case.outcomes),
            case.rectification_due,
            case.get_reinspection_display() if case.reinspection else "",
            _yuan(case.penalty_fen),
            case.penalty_basis,
            case.penalty_document,
            case.is_disguised,
            case.refund_count,  # type: ignore[attr-defined]
            _yuan(case.refunded_fen or 0),  # type: ignore[attr-defined]
            case.refunded_families or 0,  # type: ignore[attr-defined]
            case.opened_at,
            case.concluded_at,
        ]


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    """The cases of the user's leads, filtered, sorted, paged and exportable."""
    form = forms.FilterForm(request.GET)
    values = form.values()
    rows = _filtered(request, values)
    if request.GET.get("format") == "xlsx":
        return xlsx_response("cases.xlsx", [str(h) for h in EXPORT_HEADER], _export_rows(rows))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for case in page:
        case.refunded_yuan = _shown_yuan(case.refunded_fen or 0)  # type: ignore[attr-defined]
    context = {"page": page, "form": form, "values": values}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cases/list.html#results", context)
    return render(request, "cases/list.html", context)


def _visible_case(request: HttpRequest, pk: int) -> Case:
    return get_object_or_404(
        cases_visible_to(request.user).select_related(
            "lead", "lead__institution", "region", "institution", "department", "opened_by"
        ),
        pk=pk,
    )


VERB_LABELS = {
    "case.opened": gettext_lazy("case opened"),
    "case.rectification_ordered": gettext_lazy("rectification ordered"),
    "case.reinspected": gettext_lazy("re-inspection recorded"),
    "case.penalised": gettext_lazy("penalty recorded"),
    "case.closure_ordered": gettext_lazy("closure ordered"),
    "case.blacklisted": gettext_lazy("institution blacklisted"),
    "case.concluded": gettext_lazy("case concluded"),
    "refund.reported": gettext_lazy("refund reported"),
    "refund.verified": gettext_lazy("refund verified"),
    "refund.rejected": gettext_lazy("refund rejected"),
}


def _history(case: Case) -> list[tuple[Event, str, str]]:
    """The case's events and its refunds', oldest first: (event, what, note)."""
    refund_ids = [str(pk) for pk in case.refunds.values_list("pk", flat=True)]
    events = Event.objects.filter(
        Q(object_type=Case._meta.label_lower, object_id=str(case.pk))
        | Q(object_type=Refund._meta.label_lower, object_id__in=refund_ids)
    ).order_by("at", "pk")
    entries = []
    for event in events:
        after = event.after if isinstance(event.after, dict) else {}
        note = after.get("note") or after.get("reason") or after.get("rejection_reason") or ""
        entries.append((event, str(VERB_LABELS.get(event.verb, event.verb)), str(note)))
    return entries


def _panel_context(
    request: HttpRequest, case: Case, bound: dict[str, django_forms.Form] | None = None
) -> dict[str, Any]:
    can_record = services.may_record(request.user, case.lead)
    can_verify = services.is_case_supervisor(request.user, case.lead)
    is_open = case.status == CaseStatus.OPEN
    bound = bound or {}
    context: dict[str, Any] = {
        "case": case,
        "lead": case.lead,
        "lead_url": f"/leads/{case.lead_id}/",
        "refunds": refunds_visible_to(request.user)
        .filter(case=case)
        .select_related("reported_by", "verified_by"),
        "history": _history(case),
        "can_record": can_record,
        "can_change": can_record and is_open,
        "can_verify": can_verify,
        "penalty_yuan": _shown_yuan(case.penalty_fen),
        "show_messages": bool(request.htmx),  # type: ignore[attr-defined]
    }
    if can_record:
        context["refund_form"] = bound.get("refund") or forms.RefundForm(prefix="refund")
    if can_record and is_open:
        for name, form_class in ACTION_FORMS.items():
            context[f"{name}_form"] = bound.get(name) or form_class(prefix=name)
    if can_verify:
        context["reject_form"] = bound.get("reject") or forms.RefundRejectForm(prefix="reject")
    return context


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One case: its lead, institution, outcomes and refunds, and the forms the viewer may use."""
    case = _visible_case(request, pk)
    return render(request, "cases/detail.html", _panel_context(request, case))


def _answer(
    request: HttpRequest,
    case: Case,
    *,
    form: django_forms.Form | None,
    name: str,
    done: str,
    error: str = "",
) -> HttpResponse:
    """htmx: the case panel, with the form's errors or the outcome; plainly: back to the page."""
    if request.htmx:  # type: ignore[attr-defined]
        if error:
            messages.error(request, error)
        elif not (form is not None and form.errors):
            messages.success(request, done)
        case = _visible_case(request, case.pk)
        bound = {name: form} if form is not None and form.errors else None
        return render(request, "cases/detail.html#panel", _panel_context(request, case, bound))
    if form is not None and form.errors:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
    elif error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("cases:detail", pk=case.pk)


Action = Callable[..., Any]

ACTION_FORMS: dict[str, type[django_forms.Form]] = {
    "rectification": forms.RectificationForm,
    "reinspection": forms.ReinspectionForm,
    "penalty": forms.PenaltyForm,
    "closure": forms.ClosureForm,
    "blacklist": forms.BlacklistForm,
    "conclude": forms.ConcludeForm,
}
ACTIONS: dict[str, tuple[Action, Callable[[dict[str, Any]], dict[str, Any]], Any]] = {
    "rectification": (
        services.case_record_rectification,
        lambda d: {"order_text": d["order_text"], "due": d["due"]},
        gettext_lazy("Rectification order recorded."),
    ),
    "reinspection": (
        services.case_record_reinspection,
        lambda d: {"passed": d["passed"], "note": d["note"]},
        gettext_lazy("Re-inspection recorded."),
    ),
    "penalty": (
        services.case_record_penalty,
        lambda d: {"amount_fen": d["amount"], "basis": d["basis"], "document": d["document"]},
        gettext_lazy("Penalty recorded."),
    ),
    "closure": (
        services.case_order_closure,
        lambda d: {"note": d["note"]},
        gettext_lazy("Closure order recorded."),
    ),
    "blacklist": (
        services.case_blacklist,
        lambda d: {"reason": d["reason"]},
        gettext_lazy("Institution blacklisted."),
    ),
    "conclude": (
        services.case_conclude,
        lambda d: {"summary": d["summary"]},
        gettext_lazy("Case concluded."),
    ),
    "refund": (
        services.refund_report,
        lambda d: {"amount_fen": d["amount"], "families": d["families"], "note": d["note"]},
        gettext_lazy("Refund reported; the bureau will verify it."),
    ),
}
ACTION_FORMS_ALL = ACTION_FORMS | {"refund": forms.RefundForm}


@login_required
@require_POST
def case_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Record one outcome, conclude, or report a refund."""
    if action not in ACTIONS:
        raise Http404
    case = _visible_case(request, pk)
    # Who may not record answers 404 before any input is read, as for a case out of scope.
    if not services.may_record(request.user, case.lead):
        raise Http404
    service, arguments, done = ACTIONS[action]
    form = ACTION_FORMS_ALL[action](request.POST, prefix=action)
    if not form.is_valid():
        return _answer(request, case, form=form, name=action, done=str(done))
    try:
        service(actor=request.user, case=case, **arguments(form.cleaned_data))
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        if exc.field and exc.field in form.fields:
            form.add_error(exc.field, exc.message)
            return _answer(request, case, form=form, name=action, done=str(done))
        return _answer(request, case, form=None, name=action, done="", error=exc.message)
    return _answer(request, case, form=None, name=action, done=str(done))


@login_required
@require_POST
def refund_verify(request: HttpRequest, pk: int) -> HttpResponse:
    """The bureau verifies a reported refund."""
    refund = get_object_or_404(refunds_visible_to(request.user).select_related("case"), pk=pk)
    try:
        services.refund_verify(actor=request.user, refund=refund)
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        return _answer(request, refund.case, form=None, name="", done="", error=exc.message)
    return _answer(request, refund.case, form=None, name="", done=_("Refund verified."))


@login_required
@require_POST
def refund_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """The bureau rejects a reported refund, saying why."""
    refund = get_object_or_404(refunds_visible_to(request.user).select_related("case"), pk=pk)
    if not services.is_case_supervisor(request.user, refund.case.lead):
        raise Http404
    form = forms.RefundRejectForm(request.POST, prefix="reject")
    if not form.is_valid():
        return _answer(request, refund.case, form=form, name="reject", done="")
    try:
        services.refund_reject(actor=request.user, refund=refund, **form.cleaned_data)
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        return _answer(request, refund.case, form=None, name="", done="", error=exc.message)
    return _answer(request, refund.case, form=None, name="", done=_("Refund rejected."))


def lead_panel_context(request: HttpRequest, lead: Any) -> dict[str, Any]:
    """What ``cases/_lead_panel.html`` needs on the lead page: {lead, case, can_record}."""
    return {
        "lead": lead,
        "case": cases_visible_to(request.user).filter(lead_id=lead.pk).first(),
        "can_record": services.may_record(request.user, lead),
        "show_messages": bool(getattr(request, "htmx", False)),
    }


@login_required
@require_POST
def case_open(request: HttpRequest, lead_pk: int) -> HttpResponse:
    """Open the case of a lead; htmx gets the lead page's case panel back."""
    lead = get_object_or_404(leads_visible_to(request.user), pk=lead_pk)
    try:
        case = services.case_open(actor=request.user, lead=lead)
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        messages.error(request, exc.message)
        if request.htmx:  # type: ignore[attr-defined]
            return render(request, "cases/_lead_panel.html", lead_panel_context(request, lead))
        return redirect(_back(request, f"/leads/{lead.pk}/"))
    messages.success(request, _("Case opened."))
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cases/_lead_panel.html", lead_panel_context(request, lead))
    return redirect("cases:detail", pk=case.pk)


def _back(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
