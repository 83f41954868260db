"""Public tip pages (no login, phone first) and the bureau's public-reply page.

The tip pages never show anything internal: the status page reads only ``public_view``. The
reply page takes its lead from ``leads_triaged_by``: a lead outside the supervisor's place is 404.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from bihuan.core.errors import ServiceError
from bihuan.intake import forms, services
from bihuan.intake.categories import CATEGORIES
from bihuan.intake.selectors import public_replies, public_view, tip_by_code
from bihuan.leads.selectors import leads_triaged_by

_SESSION_CODE = "intake_last_code"


def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is the client's to forge unless a proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "")


@sensitive_post_parameters("phone")
@require_http_methods(["GET", "POST"])
def tip_new(request: HttpRequest) -> HttpResponse:
    """The tip form: categories, place, description, photos, anonymity or a phone number."""
    ip = _client_ip(request)
    if request.method == "POST":
        if request.POST.get("website"):
            # A bot filled the honeypot: refuse without saying why.
            return render(request, "intake/tip_refused.html", status=400)
        phone = request.POST.get("phone", "") if not request.POST.get("is_anonymous") else ""
        needs_captcha = services.captcha_needed(client_ip=ip, phone=phone.strip())
        form = forms.TipForm(request.POST, with_captcha=needs_captcha)
        if form.is_valid():
            data = form.cleaned_data
            try:
                tip = services.tip_create(
                    category=data["category"],
                    description=data["description"],
                    place_name=data["place_name"],
                    address=data["address"],
                    latitude=data["latitude"],
                    longitude=data["longitude"],
                    happened_on=data["happened_on"],
                    phone=data["phone"],
                    is_anonymous=data["is_anonymous"],
                    files=request.FILES.getlist("photos"),
                    client_ip=ip,
                    form_token=data["form_token"],
                )
            except ServiceError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, error.message)
            else:
                request.session[_SESSION_CODE] = tip.tracking_code
                return redirect("intake:tip_done")
        status = 400
    else:
        form = forms.TipForm(
            initial={"form_token": secrets.token_urlsafe(24)},
            with_captcha=services.captcha_needed(client_ip=ip),
        )
        status = 200
    context = {
        "form": form,
        "categories": CATEGORIES,
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
    }
    return render(request, "intake/tip_new.html", context, status=status)


def tip_done(request: HttpRequest) -> HttpResponse:
    """The tracking code, big, with a copy button and the status page's address."""
    code = request.session.get(_SESSION_CODE)
    if not code:
        return redirect("intake:tip_new")
    url = request.build_absolute_uri(reverse("intake:tip_status_code", args=[code]))
    return render(request, "intake/tip_done.html", {"code": code, "status_url": url})


def tip_status(request: HttpRequest) -> HttpResponse:
    """The code entry form; a code sends the parent to the status page."""
    form = forms.StatusForm(request.GET or None)
    if form.is_valid():
        return redirect("intake:tip_status_code", code=form.cleaned_data["code"])
    return render(request, "intake/tip_status_form.html", {"form": form})


def tip_status_code(request: HttpRequest, code: str) -> HttpResponse:
    """The public status, dates and replies of one tip; a wrong code looks like any other miss."""
    ip = _client_ip(request)
    if not services.lookup_allowed(ip):
        form = forms.StatusForm()
        context = {"form": form, "limited": True}
        return render(request, "intake/tip_status_form.html", context, status=429)
    tip = tip_by_code(services.normalise_code(code))
    if tip is None:
        services.lookup_miss_record(ip)
        context = {"form": forms.StatusForm(), "not_found": True}
        return render(request, "intake/tip_status_form.html", context, status=404)
    return render(request, "intake/tip_status.html", {"view": public_view(tip)})


@login_required
@require_http_methods(["GET", "POST"])
def tip_replies(request: HttpRequest, pk: int) -> HttpResponse:
    """The bureau's replies to the parent of one tip, and a form to add one."""
    lead = get_object_or_404(leads_triaged_by(request.user).select_related("public_tip"), pk=pk)
    if not hasattr(lead, "public_tip"):
        raise Http404
    form = forms.ReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.public_reply_add(actor=request.user, lead=lead, text=form.cleaned_data["text"])
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The reply is on the parent's status page."))
            return redirect("intake:tip_replies", pk=lead.pk)
    context = {"lead": lead, "replies": public_replies(lead), "form": form}
    return render(request, "intake/tip_replies.html", context)
