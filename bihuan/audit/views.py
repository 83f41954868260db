"""The audit log search page, for the audit administrator."""

from __future__ import annotations

import datetime
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bihuan.accounts.policies import Capability, can
from bihuan.audit.selectors import chain_state_visible_to, events_visible_to
from bihuan.audit.services import audit_chain_verify_request
from bihuan.core.exports import xlsx_response
from bihuan.core.text import normalize_query


def _parse_day(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


@login_required
def events(request: HttpRequest) -> HttpResponse:
    """Search events by actor, action, object and day range."""
    if not can(request.user, Capability.AUDIT_READ):
        raise Http404
    rows = events_visible_to(request.user)
    params = {
        k: normalize_query(request.GET.get(k, ""))
        for k in ("actor", "verb", "object", "since", "until")
    }
    if params["actor"]:
        rows = rows.filter(actor_label__icontains=params["actor"])
    if params["verb"]:
        rows = rows.filter(verb__startswith=params["verb"])
    if params["object"]:
        rows = rows.filter(
            Q(object_repr__icontains=params["object"]) | Q(object_id=params["object"])
        )
    tz = timezone.get_current_timezone()
    if since := _parse_day(params["since"]):
        rows = rows.filter(at__gte=datetime.datetime.combine(since, datetime.time.min, tzinfo=tz))
    if until := _parse_day(params["until"]):
        end = datetime.datetime.combine(until, datetime.time.min, tzinfo=tz)
        rows = rows.filter(at__lt=end + datetime.timedelta(days=1))
    rows = (
        rows.order_by("at", "id")
        if request.GET.get("sort") == "at"
        else rows.order_by("-at", "-id")
    )
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            "audit-events.xlsx",
            [
                _("Time"),
                _("Actor"),
                _("Action"),
                _("Object type"),
                _("Object id"),
                _("Object"),
                _("IP address"),
                _("Before"),
                _("After"),
            ],
            (
                (
                    e.at,
                    e.actor_label,
                    e.verb,
                    e.object_type,
                    e.object_id,
                    e.object_repr,
                    e.ip,
                    json.dumps(e.before, ensure_ascii=False) if e.before is not None else "",
                    json.dumps(e.after, ensure_ascii=False) if e.after is not None else "",
                )
                for e in rows.iterator(chunk_size=2000)
            ),
        )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    verbs = (
        events_visible_to(request.user).order_by("verb").values_list("verb", flat=True).distinct()
    )
    return render(
        request,
        "audit/events.html",
        {
            "page": page,
            "params": params,
            "verbs": list(verbs),
            "chain": chain_state_visible_to(request.user),
        },
    )


@login_required
@require_POST
def chain_verify(request: HttpRequest) -> HttpResponse:
    """Queue a verification of the whole hash chain; its outcome shows on the audit page."""
    if not can(request.user, Capability.AUDIT_READ):
        raise Http404
    audit_chain_verify_request(actor=request.user)
    messages.success(
        request, _("Verification queued: its outcome shows here once a worker has run it.")
    )
    return redirect("audit:events")
