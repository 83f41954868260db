"""Pages of two-factor sign-in: the code step of the login, enrolment, removal, and reset."""

from __future__ import annotations

from base64 import b32encode

import segno
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from bihuan.accounts import forms, otp, sessions
from bihuan.accounts.models import User
from bihuan.accounts.policies import Capability, can
from bihuan.accounts.selectors import users_visible_to
from bihuan.core.errors import ServiceError


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second sign-in step: a code from the authenticator app, or a recovery code."""
    if request.user.is_authenticated:
        return redirect("accounts:home")
    pending = otp.pending_user(request)
    if pending is None:
        return redirect("accounts:login")
    user, target = pending
    form = forms.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = otp.second_factor_check(user=user, code=form.cleaned_data["code"])
        if result.device is not None:
            del request.session[otp.PENDING_KEY]
            # django-otp's own user_logged_in receiver marks the session verified by this device.
            user.otp_device = result.device  # type: ignore[attr-defined]
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(target or "accounts:home")
        if result.locked:
            del request.session[otp.PENDING_KEY]
            messages.error(request, result.error)
            return redirect("accounts:login")
        form.add_error("code", result.error)
    return render(request, "accounts/login_code.html", {"form": form, "person": user})


def _grouped(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@never_cache
@login_required
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def second_factor(request: HttpRequest) -> HttpResponse:
    """One's own second factor: set it up (QR code, first code, recovery codes) or remove it."""
    user: User = request.user  # type: ignore[assignment]
    required = otp.second_factor_required(user)
    if otp.has_second_factor(user):
        return render(
            request,
            "accounts/second_factor.html",
            {
                "enrolled": True,
                "required": required,
                "codes_left": otp.recovery_codes_left(user),
                "form": forms.CodeForm(),
            },
        )
    secret = request.session.get(otp.ENROL_KEY) or otp.new_secret()
    request.session[otp.ENROL_KEY] = secret
    form = forms.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = otp.second_factor_enrol(
                user=user, secret=secret, code=form.cleaned_data["code"]
            )
        except ServiceError as exc:
            form.add_error("code", exc.message)
        else:
            del request.session[otp.ENROL_KEY]
            otp_login(request, TOTPDevice.objects.get(user=user, confirmed=True))
            # Sessions signed in without a second factor do not outlive its setting up.
            ended = sessions.sessions_end_for(
                actor=user, user=user, keep=sessions.current_row_id(request)
            )
            return render(
                request,
                "accounts/recovery_codes.html",
                {"codes": [f"{c[:4]}-{c[4:]}" for c in codes], "ended": ended},
            )
    device = otp.provisioning_device(user, secret)
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4, title=_("QR code"))
    return render(
        request,
        "accounts/second_factor.html",
        {
            "enrolled": False,
            "required": required,
            # segno writes the SVG from the otpauth URL alone: nothing of the request is in it.
            "qr": mark_safe(qr),  # noqa: S308
            "secret": _grouped(b32encode(device.bin_key).decode()),
            "form": form,
        },
    )


@login_required
@sensitive_post_parameters("code")
@require_POST
def second_factor_disable(request: HttpRequest) -> HttpResponse:
    """Remove one's own second factor, with a current code (then set it up again if required)."""
    form = forms.CodeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a current code to remove two-factor sign-in."))
        return redirect("accounts:second_factor")
    try:
        otp.second_factor_disable(user=request.user, code=form.cleaned_data["code"])  # type: ignore[arg-type]
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Two-factor sign-in was removed."))
    return redirect("accounts:second_factor")


@login_required
@require_POST
def user_second_factor_reset(request: HttpRequest, pk: int) -> HttpResponse:
    """A security administrator removes someone's second factor (a lost phone)."""
    if not can(request.user, Capability.ACCOUNT_UNLOCK):
        raise Http404
    person = get_object_or_404(users_visible_to(request.user), pk=pk)
    try:
        otp.second_factor_reset(actor=request.user, user=person)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("Two-factor sign-in was reset; the user sets it up again at next sign-in.")
        )
    return redirect("accounts:user", pk=pk)
