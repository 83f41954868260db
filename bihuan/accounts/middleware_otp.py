"""Session rules of the second factor and of session tracking (等保 8.1.4.1 d, 8.1.4.2)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from bihuan.accounts import otp, sessions
from bihuan.accounts.models import SessionEnd

_OPEN_PREFIXES = ("/static/", "/i18n/", "/healthz")


class SecondFactorMiddleware:
    """Lets an unverified session through only if its user has no second factor and needs none.

    A user who must have one but has not is sent to enrolment and reaches nothing else. The
    answer "needs none" is kept in the session, so most requests cost no query here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()  # type: ignore[union-attr,attr-defined]
            and not request.session.get(otp.CLEAR_KEY)
            and not request.path.startswith(_OPEN_PREFIXES)
        ):
            if otp.has_second_factor(user):  # type: ignore[arg-type]
                # A session signed in without the code: one from before the user enrolled.
                sessions.session_close(request, SessionEnd.EXPIRED)
                logout(request)
                messages.info(request, _("Sign in again with your authenticator code."))
                return redirect_to_login(request.get_full_path())
            if otp.second_factor_required(user):  # type: ignore[arg-type]
                allowed = {
                    reverse("accounts:second_factor"),
                    reverse("accounts:logout"),
                    reverse("accounts:password_change"),
                }
                if request.path not in allowed:
                    return redirect("accounts:second_factor")
            else:
                request.session[otp.CLEAR_KEY] = True
        return self.get_response(request)


class SessionTrackingMiddleware:
    """Keeps the session's tracking row seen, and tells a browser why its session was ended."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            if not sessions.session_seen(request):
                # Ended elsewhere while this request was on its way.
                logout(request)
                return redirect_to_login(request.get_full_path())
        elif settings.SESSION_COOKIE_NAME in request.COOKIES and (
            request.session.session_key is None or "_auth_user_id" in request.session
        ):
            # The cookie names a session that no longer signs anyone in (ended, expired, disabled).
            reason = sessions.session_gone(request.COOKIES[settings.SESSION_COOKIE_NAME])
            request.session.flush()
            if reason in sessions.ENDED_ELSEWHERE:
                messages.warning(
                    request, _("Your session was ended from another session; sign in again.")
                )
        return self.get_response(request)
