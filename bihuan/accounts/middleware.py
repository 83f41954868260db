"""Session rules of the 等保 policy: idle timeout and forced change of the initial password."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from bihuan.accounts import services, sessions
from bihuan.accounts.models import SessionEnd

SESSION_KEY = "bihuan_last_seen"
# Paths a user with an initial password may still reach.
_OPEN_PREFIXES = ("/static/", "/i18n/", "/healthz")


class IdleTimeoutMiddleware:
    """Signs out a session that has been idle for IDLE_TIMEOUT_MINUTES."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(SESSION_KEY)
            if last_seen is not None and now - last_seen > settings.IDLE_TIMEOUT_MINUTES * 60:
                services.logout_record(user=user, reason="idle")
                sessions.session_close(request, SessionEnd.IDLE)
                logout(request)
                messages.info(request, _("You were signed out after a period of inactivity."))
                return redirect_to_login(request.get_full_path())
            request.session[SESSION_KEY] = now
        return self.get_response(request)


class PasswordChangeRequiredMiddleware:
    """Sends a user who still has an initial password to the change-password page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and services.password_change_required(user)  # type: ignore[arg-type]
            and not request.path.startswith(_OPEN_PREFIXES)
            and request.path
            not in (reverse("accounts:password_change"), reverse("accounts:logout"))
        ):
            return redirect("accounts:password_change")
        return self.get_response(request)
