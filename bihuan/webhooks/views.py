"""Pages of the webhooks: subscriptions, their secret (shown once) and their delivery log.
Configuration administrators only; 404 for everyone else."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from bihuan.accounts.policies import can
from bihuan.core.errors import ServiceError
from bihuan.territory.selectors import regions_visible_to
from bihuan.webhooks import selectors, services
from bihuan.webhooks.forms import SubscriptionForm
from bihuan.webhooks.models import Delivery, Subscription


def _require(request: HttpRequest) -> None:
    if not can(request.user, services.CAPABILITY):
        raise Http404


def _subscription(request: HttpRequest, pk: int) -> Subscription:
    return get_object_or_404(selectors.subscriptions_visible_to(request.user), pk=pk)


def _secret_page(request: HttpRequest, sub: Subscription, secret: str) -> HttpResponse:
    # Shown in this response only, never stored in the session nor cached.
    return render(request, "webhooks/secret.html", {"subscription": sub, "secret": secret})


@login_required
def subscriptions(request: HttpRequest) -> HttpResponse:
    """Every subscription, with its state."""
    _require(request)
    rows = selectors.subscriptions_visible_to(request.user).order_by("-is_active", "-pk")
    return render(request, "webhooks/subscriptions.html", {"subscriptions": rows})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def subscription_create(request: HttpRequest) -> HttpResponse:
    """Subscribe an endpoint; the answer shows its secret once."""
    _require(request)
    form = SubscriptionForm(request.POST or None, regions=regions_visible_to(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            sub, secret = services.subscription_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return _secret_page(request, sub, secret)
    return render(request, "webhooks/form.html", {"form": form})


@login_required
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One subscription and its delivery log with every attempt."""
    _require(request)
    sub = _subscription(request, pk)
    deliveries = list(selectors.deliveries_of(sub)[:100])
    return render(request, "webhooks/detail.html", {"subscription": sub, "deliveries": deliveries})


@login_required
@require_POST
def subscription_pause(request: HttpRequest, pk: int) -> HttpResponse:
    """Pause or resume (``paused`` = 1 or 0)."""
    _require(request)
    sub = _subscription(request, pk)
    try:
        services.subscription_set_paused(
            actor=request.user, subscription=sub, paused=request.POST.get("paused") == "1"
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("webhooks:detail", pk=sub.pk)


@never_cache
@login_required
@require_POST
def subscription_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """A new secret, shown once."""
    _require(request)
    sub = _subscription(request, pk)
    try:
        sub, secret = services.subscription_rotate_secret(actor=request.user, subscription=sub)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("webhooks:detail", pk=sub.pk)
    return _secret_page(request, sub, secret)


@login_required
@require_POST
def subscription_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete = deactivate; the log stays."""
    _require(request)
    sub = _subscription(request, pk)
    try:
        services.subscription_deactivate(actor=request.user, subscription=sub)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Subscription deleted."))
    return redirect("webhooks:list")


@login_required
@require_POST
def delivery_resend(request: HttpRequest, pk: int, delivery: uuid.UUID) -> HttpResponse:
    """Send a delivery again, same id and body."""
    _require(request)
    sub = _subscription(request, pk)
    found: Delivery = get_object_or_404(selectors.deliveries_of(sub), pk=delivery)
    try:
        services.delivery_resend(actor=request.user, delivery=found)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The delivery is queued again."))
    return redirect("webhooks:detail", pk=sub.pk)
