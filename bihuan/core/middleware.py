"""Request-wide context for the audit trail."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from bihuan.core.context import client_ip
from bihuan.core.security import client_address


class RequestContextMiddleware:
    """Makes the client address available to services while the request is served."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # REMOTE_ADDR, or X-Forwarded-For as written by a proxy listed in TRUSTED_PROXIES only.
        token = client_ip.set(client_address(request.META, tuple(settings.TRUSTED_PROXIES)))
        try:
            return self.get_response(request)
        finally:
            client_ip.reset(token)
