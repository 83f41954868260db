"""The notifications page, the bell, and marking read (htmx partials, plain forms without JS)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from bihuan.notifications.selectors import notifications_visible_to, unread_count
from bihuan.notifications.services import notification_mark_read, notifications_mark_all_read

PAGE_SIZE = 30
# The bell listens for this event and fetches its count again.
CHANGED = "notifications-changed"


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("notifications:list")
    return HttpResponseRedirect(target)


def _page_context(request: HttpRequest, *, unread_only: bool) -> dict[str, object]:
    rows = notifications_visible_to(request.user)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return {"page": page, "unread_only": unread_only}


@login_required
@require_GET
def notification_list(request: HttpRequest, unread_only: bool = False) -> HttpResponse:
    """The user's notifications, newest first; the unread ones only at /notifications/unread/."""
    return render(
        request, "notifications/list.html", _page_context(request, unread_only=unread_only)
    )


@login_required
@require_GET
@never_cache
def bell(request: HttpRequest) -> HttpResponse:
    """htmx: the bell with a fresh unread count (polled by the page header)."""
    return render(
        request, "notifications/bell.html", {"unread_notifications": unread_count(request.user)}
    )


@login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read; htmx gets the row and the bell, a form goes back."""
    notification = get_object_or_404(notifications_visible_to(request.user), pk=pk)
    notification = notification_mark_read(actor=request.user, notification=notification)
    if request.htmx:  # type: ignore[attr-defined]
        response = render(request, "notifications/_row.html", {"n": notification})
        return trigger_client_event(response, CHANGED)
    return _back(request)


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    """Mark all the user's notifications read; htmx gets the list and the bell, a form goes back."""
    notifications_mark_all_read(actor=request.user)
    if request.htmx:  # type: ignore[attr-defined]
        context = _page_context(request, unread_only=request.POST.get("unread_only") == "1")
        response = render(request, "notifications/list.html#results", context)
        return trigger_client_event(response, CHANGED)
    return _back(request)
