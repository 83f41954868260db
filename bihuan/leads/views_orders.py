"""The departments' pages of the loop: the inbox, an order's page with its actions, evidence files.

Every order comes from a scoped selector: one outside the viewer's department or place is a 404,
and so is an action the viewer may not take on it. A department never learns who reported a lead:
these pages show the place and the facts, never the reporter, the sentinel or its people. Action
forms post with htmx and get the order's panel back; without JavaScript they post plainly and are
redirected to the order page with a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, Q, QuerySet, When
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from bihuan.accounts.policies import Capability, can
from bihuan.accounts.scope import scope_of
from bihuan.audit.models import Event
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.core.exports import xlsx_response
from bihuan.leads import forms_orders as forms
from bihuan.leads import services
from bihuan.leads.models import Attachment, ExtensionRequest, WorkOrder
from bihuan.leads.selectors import (
    leads_triaged_by,
    leads_visible_to,
    may_triage,
    work_orders_handled_by,
    work_orders_visible_to,
)
from bihuan.leads.workflow import ORDER_LIVE, ExtensionStatus, OrderStatus, order_may_move

PAGE_SIZE = 50


# ---------------------------------------------------------------------------- the inbox


def _inbox_orders(user: Any) -> QuerySet[WorkOrder]:
    """Supervisors see their leads' orders; officers their department's; anyone else nothing."""
    if can(user, Capability.LEAD_TRIAGE):
        return work_orders_visible_to(user)
    if can(user, Capability.ORDER_HANDLE):
        return work_orders_handled_by(user)
    raise Http404


def _tab_q(tab: str, now: datetime) -> Q:
    if tab == "awaiting":
        return Q(status=OrderStatus.AWAITING)
    if tab == "signed":
        return Q(status=OrderStatus.SIGNED)
    if tab == "replied":
        return Q(status__in=[OrderStatus.REPLIED, OrderStatus.ACCEPTED])
    if tab == "overdue":
        return Q(status=OrderStatus.AWAITING, sign_due__lt=now) | Q(
            status=OrderStatus.SIGNED, reply_due__lt=now
        )
    if tab == "returned":
        return Q(status=OrderStatus.RETURN_REQUESTED)
    return Q()


# The deadline the department works against now: to sign, then to reply; none once replied.
_DUE = Case(
    When(status=OrderStatus.AWAITING, then=F("sign_due")),
    When(status=OrderStatus.SIGNED, then=F("reply_due")),
    default=None,
)
ORDERINGS: dict[str, tuple[Any, ...]] = {
    "due": (F("due").asc(nulls_last=True), "pk"),
    "-due": (F("due").desc(nulls_last=True), "-pk"),
    "-created": ("-created_at", "-pk"),
}


def _filtered(request: HttpRequest, values: dict[str, Any]) -> QuerySet[WorkOrder]:
    """The viewer's orders under every filter but the tab."""
    rows = _inbox_orders(request.user)
    if "q" in values:
        text = values["q"]
        rows = rows.filter(
            Q(lead__reference__icontains=text)
            | Q(lead__institution__name__icontains=text)
            | Q(lead__place_name__icontains=text)
            | Q(lead__address__icontains=text)
        )
    if "role" in values:
        rows = rows.filter(role=values["role"])
    if "type" in values:
        rows = rows.filter(lead__violation_types__code__iexact=values["type"])
    if values.get("flag") == "urged":
        rows = rows.filter(urge_count__gt=0)
    elif values.get("flag") == "supervised":
        rows = rows.filter(is_supervised=True)
    return rows


def _tab_counts(rows: QuerySet[WorkOrder], now: datetime) -> dict[str, int]:
    """Every tab's count in one query."""
    totals = rows.aggregate(
        **{
            key: Count("pk", filter=_tab_q(key, now)) if key != "all" else Count("pk")
            for key, _label in forms.TABS
        }
    )
    return {key: int(value or 0) for key, value in totals.items()}


def _rows(rows: QuerySet[WorkOrder], values: dict[str, Any], now: datetime) -> QuerySet[WorkOrder]:
    return (
        rows.filter(_tab_q(values["tab"], now))
        .select_related("lead", "lead__institution", "department")
        .prefetch_related("lead__violation_types")
        .annotate(due=_DUE)
        .order_by(*ORDERINGS[values["sort"]])
    )


EXPORT_HEADER = [
    gettext_lazy("Lead"),
    gettext_lazy("Place"),
    gettext_lazy("Violation types"),
    gettext_lazy("Department"),
    gettext_lazy("Role"),
    gettext_lazy("Status"),
    gettext_lazy("Deadline"),
    gettext_lazy("Overdue"),
    gettext_lazy("Urged"),
    gettext_lazy("Under supervision"),
    gettext_lazy("Dispatched"),
]


def _export_rows(rows: QuerySet[WorkOrder], now: datetime) -> Iterator[list[Any]]:
    for order in rows.iterator(chunk_size=2000):
        due = order.due  # type: ignore[attr-defined]
        yield [
            order.lead.reference,
            order.lead.place_label,
            "、".join(t.code for t in order.lead.violation_types.all()),
            order.department.short_name,
            order.get_role_display(),
            order.get_status_display(),
            due,
            bool(due and due < now),
            order.urge_count,
            order.is_supervised,
            order.created_at,
        ]


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """A department's work orders by tab, filtered, sorted, paged and exportable."""
    form = forms.InboxFilterForm(request.GET)
    values = form.values()
    now = timezone.now()
    filtered = _filtered(request, values)
    rows = _rows(filtered, values, now)
    if request.GET.get("format") == "xlsx":
        header = [str(h) for h in EXPORT_HEADER]
        return xlsx_response("work-orders.xlsx", header, _export_rows(rows, now))
    counts = _tab_counts(filtered, now)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "form": form,
        "values": values,
        "now": now,
        "tabs": [(key, label, counts[key]) for key, label in forms.TABS],
        "is_bureau": can(request.user, Capability.LEAD_TRIAGE),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "leads/orders/inbox.html#results", context)
    return render(request, "leads/orders/inbox.html", context)


# ---------------------------------------------------------------------------- one order


def _visible_order(request: HttpRequest, pk: int) -> WorkOrder:
    return get_object_or_404(
        work_orders_visible_to(request.user).select_related(
            "lead",
            "lead__institution",
            "lead__region",
            "department",
            "proposed_department",
            "reassigned_to__department",
            "signed_by",
        ),
        pk=pk,
    )


def available_actions(order: WorkOrder) -> dict[str, bool]:
    """Which department actions the order's status allows (workflow.ORDER_MOVES, as the form)."""
    pending = any(e.status == ExtensionStatus.PENDING for e in order.extensions.all())
    return {
        # Other moves to "signed" are the bureau's (redo, refused return, reopen).
        "sign": order.status == OrderStatus.AWAITING
        and order_may_move(order.status, OrderStatus.SIGNED),
        "reply": order_may_move(order.status, OrderStatus.REPLIED),
        "return": order_may_move(order.status, OrderStatus.RETURN_REQUESTED),
        "extension": order.status == OrderStatus.SIGNED and not pending,
    }


VERB_LABELS = {
    "work_order.created": gettext_lazy("dispatched to the department"),
    "work_order.signed": gettext_lazy("signed for"),
    "work_order.replied": gettext_lazy("replied"),
    "work_order.accepted": gettext_lazy("reply accepted"),
    "work_order.redo": gettext_lazy("sent back for redo"),
    "work_order.return_requested": gettext_lazy("return requested"),
    "work_order.return_refused": gettext_lazy("return refused"),
    "work_order.reassigned": gettext_lazy("reassigned"),
    "work_order.urged": gettext_lazy("urged"),
    "work_order.supervised": gettext_lazy("put under supervision"),
    "work_order.escalated": gettext_lazy("escalated to the level above"),
    "work_order.extended": gettext_lazy("deadline extended"),
    "work_order.reopened": gettext_lazy("lead reopened"),
    "extension.requested": gettext_lazy("extension requested"),
    "extension.decided": gettext_lazy("extension decided"),
}


def _history(order: WorkOrder, extension_ids: list[int]) -> list[tuple[Event, str, str]]:
    """The order's events and its extension requests', oldest first: (event, what, note)."""
    events = Event.objects.filter(
        Q(object_type=WorkOrder._meta.label_lower, object_id=str(order.pk))
        | Q(
            object_type=ExtensionRequest._meta.label_lower,
            object_id__in=[str(pk) for pk in extension_ids],
        )
    ).order_by("at", "pk")
    entries = []
    for event in events:
        after = event.after if isinstance(event.after, dict) else {}
        note = after.get("note") or ""
        entries.append((event, str(VERB_LABELS.get(event.verb, event.verb)), str(note)))
    return entries


FORM_CLASSES: dict[str, type[django_forms.Form]] = {
    "sign": forms.SignForm,
    "reply": forms.ReplyForm,
    "return": forms.ReturnForm,
    "extension": forms.ExtensionForm,
}


def _form(name: str, order: WorkOrder, data: Any = None, files: Any = None) -> django_forms.Form:
    if name == "return":
        return forms.ReturnForm(data, files, prefix=name, order=order)
    return FORM_CLASSES[name](data, files, prefix=name)


def _order_context(
    request: HttpRequest, order: WorkOrder, bound: dict[str, django_forms.Form] | None = None
) -> dict[str, Any]:
    lead = order.lead
    extensions = list(order.extensions.select_related("requested_by"))
    may_handle = (
        can(request.user, Capability.ORDER_HANDLE)
        and work_orders_handled_by(request.user).filter(pk=order.pk).exists()
    )
    actions = available_actions(order) if may_handle else {}
    bound = bound or {}
    context: dict[str, Any] = {
        "order": order,
        "lead": lead,
        "now": timezone.now(),
        "types": list(lead.violation_types.select_related("group")),
        "lead_files": list(lead.attachments.filter(work_order__isnull=True)),
        "reply_files": list(order.attachments.all()),
        "others": list(
            lead.work_orders.filter(status__in=ORDER_LIVE)
            .exclude(pk=order.pk)
            .select_related("department")
        ),
        "reminders": list(order.reminders.all()),
        "extensions": extensions,
        "history": _history(order, [e.pk for e in extensions]),
        "may_handle": may_handle,
        "actions": actions,
        "is_bureau": may_triage(request.user, lead),
        "show_messages": bool(request.htmx),  # type: ignore[attr-defined]
    }
    for name, allowed in actions.items():
        if allowed:
            context[f"{name}_form"] = bound.get(name) or _form(name, order)
    return context


@login_required
@require_GET
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One work order as its department sees it, with the actions its status allows."""
    order = _visible_order(request, pk)
    return render(request, "leads/orders/order.html", _order_context(request, order))


def _answer(
    request: HttpRequest,
    order: WorkOrder,
    *,
    form: django_forms.Form | None = None,
    name: str = "",
    done: str = "",
    error: str = "",
) -> HttpResponse:
    """htmx: the order's panel, with the form's errors or the outcome; plainly: back to the page."""
    failed = bool(error) or (form is not None and bool(form.errors))
    if request.htmx:  # type: ignore[attr-defined]
        if error:
            messages.error(request, error)
        elif not failed:
            messages.success(request, done)
        order = _visible_order(request, order.pk)
        bound = {name: form} if form is not None and form.errors else None
        return render(
            request, "leads/orders/order.html#panel", _order_context(request, order, bound)
        )
    if form is not None and form.errors:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
    elif error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("leads:order", pk=order.pk)


Call = Callable[[Any, WorkOrder, dict[str, Any]], Any]

ACTIONS: dict[str, tuple[Call, Any]] = {
    "sign": (
        lambda actor, order, data: services.work_order_sign(actor=actor, order=order),
        gettext_lazy("Signed for; the reply deadline is running."),
    ),
    "reply": (
        lambda actor, order, data: services.work_order_reply(
            actor=actor, order=order, reply=data["reply"], files=data["files"]
        ),
        gettext_lazy("Reply sent to the bureau."),
    ),
    "return": (
        lambda actor, order, data: services.work_order_return(
            actor=actor,
            order=order,
            proposed_department=data["proposed_department"],
            reason=data["reason"],
        ),
        gettext_lazy("Return requested; the bureau will decide."),
    ),
    "extension": (
        lambda actor, order, data: services.extension_request(
            actor=actor, order=order, days=data["days"], reason=data["reason"]
        ),
        gettext_lazy("Extension requested; the bureau will decide."),
    ),
}


@login_required
@require_POST
def order_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Sign for, reply to, return, or ask more time on an order of one's department."""
    if action not in ACTIONS:
        raise Http404
    order = get_object_or_404(work_orders_handled_by(request.user), pk=pk)
    if not available_actions(order)[action]:
        return _answer(
            request,
            order,
            error=_("This cannot be done to a work order that is “%(status)s”. Reload the page.")
            % {"status": order.get_status_display()},
        )
    call, done = ACTIONS[action]
    form = _form(action, order, request.POST, request.FILES)
    if not form.is_valid():
        return _answer(request, order, form=form, name=action)
    try:
        call(request.user, order, form.cleaned_data)
    except NotAllowed:
        raise Http404 from None
    except ServiceError as exc:
        if exc.field and exc.field in form.fields:
            form.add_error(exc.field, exc.message)
            return _answer(request, order, form=form, name=action)
        return _answer(request, order, error=exc.message)
    return _answer(request, order, done=str(done))


# ---------------------------------------------------------------------------- evidence files


def _attachments_visible_to(user: Any) -> QuerySet[Attachment]:
    """Files of visible leads; outside the bureau, only the lead's own and one's department's.

    A department reads the lead's evidence and its own reply's, not another department's reply.
    """
    rows = Attachment.objects.filter(lead__in=leads_visible_to(user))
    bureau_leads = leads_triaged_by(user)
    department_ids = scope_of(user).department_ids
    return rows.filter(
        Q(lead__in=bureau_leads)
        | Q(work_order__isnull=True)
        | Q(work_order__department_id__in=department_ids)
    )


@login_required
@require_GET
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """Serve an evidence file to someone who may read it, always as a download."""
    attachment = get_object_or_404(_attachments_visible_to(request.user), pk=pk)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
