"""The token page: a user creates API tokens (each key shown once) and revokes them."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bihuan.accounts.models import User
from bihuan.api import services
from bihuan.api.models import ApiToken
from bihuan.core.errors import ServiceError


def _own_tokens(request: HttpRequest) -> QuerySet[ApiToken]:
    # login_required guarantees a real user here.
    return ApiToken.objects.filter(user=cast(User, request.user))


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; POST creates one and shows its key this once."""
    key = ""
    if request.method == "POST":
        try:
            _token, key = services.api_token_create(
                actor=request.user, name=request.POST.get("name", "")
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Token created. Copy its key now: it is not shown again."))
    rows = _own_tokens(request).order_by("-created_at")
    return render(request, "api/tokens.html", {"tokens": rows, "new_key": key})


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens (another user's is a 404)."""
    token = get_object_or_404(_own_tokens(request), pk=pk)
    services.api_token_revoke(actor=request.user, token=token)
    messages.success(request, _("Token revoked; it no longer works."))
    return redirect("api:tokens")
