"""Administrators only from approved networks (ADMIN_IP_ALLOWLIST; 等保 8.1.4.1: access control).

When the setting lists networks, a system, security or audit administrator can sign in, and keep
using the site, only from an address inside one of them. Other users are not affected. The
address is the one the audit trail records (``bihuan.core.context.current_ip``), so what is
checked is what is logged, also behind a reverse proxy listed in TRUSTED_PROXIES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from bihuan.accounts.scope import scope_of
from bihuan.audit.services import event_record
from bihuan.core.context import current_ip
from bihuan.core.security import address_in, parsed_networks


def admin_network_refused(user: Any, ip: str | None = None) -> bool:
    """Is ``user`` an administrator outside every allowed network? Never, when none is set."""
    entries = tuple(settings.ADMIN_IP_ALLOWLIST)
    if not entries or not scope_of(user).is_admin:
        return False
    return not address_in(ip if ip is not None else current_ip(), parsed_networks(entries))


def refusal_message() -> str:
    """What an administrator outside the allowed networks is told."""
    return _(
        "Administrators may only sign in from the networks approved for administration. "
        "Connect from an approved network, or ask the security administrator."
    )


class AdminNetworkMiddleware:
    """Signs out an administrator whose session is used from outside the allowed networks."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and admin_network_refused(user):
            event_record(actor=user, verb="logout.network", obj=user, after={"ip": current_ip()})
            logout(request)
            messages.error(request, refusal_message())
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)
