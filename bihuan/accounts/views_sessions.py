"""Pages of signed-in sessions: one's own, and everybody's for the security administrator."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from bihuan.accounts import sessions
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.selectors import users_visible_to
from bihuan.core.errors import ServiceError
from bihuan.core.text import normalize_query


def _require_manage(request: HttpRequest) -> None:
    if not can(request.user, Capability.SESSION_MANAGE):
        raise Http404


@login_required
def my_sessions(request: HttpRequest) -> HttpResponse:
    """Where I am signed in; I can end any session but this one."""
    rows = sessions.sessions_visible_to(request.user).filter(user_id=int(request.user.pk or 0))
    return render(
        request,
        "accounts/sessions_mine.html",
        {"rows": rows, "current": sessions.current_row_id(request)},
    )


@login_required
def sessions_all(request: HttpRequest) -> HttpResponse:
    """Everybody's open sessions, for the security administrator, by user."""
    _require_manage(request)
    rows = sessions.sessions_visible_to(request.user).order_by("user__username", "-last_seen_at")
    query = normalize_query(request.GET.get("q", ""))
    if query:
        rows = rows.filter(
            Q(user__username__icontains=query) | Q(user__display_name__icontains=query)
        )
    return render(
        request,
        "accounts/sessions_all.html",
        {
            "page": Paginator(rows, 50).get_page(request.GET.get("page")),
            "q": query,
            "current": sessions.current_row_id(request),
        },
    )


@login_required
@require_POST
def session_end(request: HttpRequest, pk: int) -> HttpResponse:
    """End one session: one of my others, or anybody's for the security administrator."""
    row = get_object_or_404(sessions.sessions_visible_to(request.user), pk=pk)
    try:
        sessions.session_end(actor=request.user, row=row, current=sessions.current_row_id(request))
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The session was ended."))
    if row.user_id == request.user.pk:
        return redirect("accounts:my_sessions")
    return redirect("accounts:sessions")


@login_required
@require_POST
def user_sessions_end(request: HttpRequest, pk: int) -> HttpResponse:
    """The security administrator signs a user out everywhere."""
    _require_manage(request)
    person = get_object_or_404(users_visible_to(request.user), pk=pk)
    ended = sessions.sessions_end_for(
        actor=request.user, user=person, keep=sessions.current_row_id(request)
    )
    messages.success(
        request,
        ngettext("%(n)d session was ended.", "%(n)d sessions were ended.", ended) % {"n": ended},
    )
    return redirect("accounts:user", pk=pk)
