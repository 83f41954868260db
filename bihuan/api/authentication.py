"""Token authentication against hashed, revocable per-user keys."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from bihuan.accounts.models import ScopeStamp
from bihuan.accounts.scope import STAMP_ATTR
from bihuan.api.models import ApiToken, hash_key

# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
_TOUCH_EVERY = datetime.timedelta(minutes=1)


class HashedTokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``; revoked tokens and locked or inactive users are refused."""

    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        # The user's scope stamp comes in the same query, so that the scope this process worked
        # out for them can be reused while it is current (bihuan.accounts.scope).
        stamp = ScopeStamp.objects.filter(user_id=OuterRef("user_id")).values("version")[:1]
        token = (
            ApiToken.objects.select_related("user")
            .annotate(scope_stamp=Subquery(stamp))
            .filter(key_hash=hash_key(key), revoked_at__isnull=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        user = token.user
        if not user.is_active or getattr(user, "is_locked", False):
            raise exceptions.AuthenticationFailed(_("This account is inactive or locked."))
        if token.scope_stamp is not None:
            setattr(user, STAMP_ATTR, token.scope_stamp)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token


class ActiveSessionAuthentication(authentication.SessionAuthentication):
    """Session auth for the browsable docs, refusing locked accounts like the token does."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        result = super().authenticate(request)
        if result is not None and getattr(result[0], "is_locked", False):
            raise exceptions.AuthenticationFailed(_("This account is inactive or locked."))
        return result
