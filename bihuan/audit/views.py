"""The audit log search page, for the audit administrator."""

from __future__ import annotations

import datetime

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from bihuan.accounts.policies import Capability, can
from bihuan.audit.selectors import events_visible_to


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
        k: request.GET.get(k, "").strip() for k in ("actor", "verb", "object", "since", "until")
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
    page = Paginator(rows.order_by("-at", "-id"), 50).get_page(request.GET.get("page"))
    verbs = (
        events_visible_to(request.user).order_by("verb").values_list("verb", flat=True).distinct()
    )
    return render(
        request, "audit/events.html", {"page": page, "params": params, "verbs": list(verbs)}
    )
