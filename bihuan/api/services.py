"""Writes of the API app: creating and revoking tokens."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.api.models import ApiToken, hash_key, new_key
from bihuan.audit.services import event_record
from bihuan.core.errors import ServiceError


@transaction.atomic
def api_token_create(*, actor: Any, name: str) -> tuple[ApiToken, str]:
    """A new token for the actor; the clear key is returned once and never stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError(_("Give the token a name of at most 100 characters."), field="name")
    key = new_key()
    token = ApiToken.objects.create(user=actor, name=name, key_hash=hash_key(key), prefix=key[:8])
    event_record(actor=actor, verb="api_token.created", obj=token, after={"name": name})
    return token, key


@transaction.atomic
def api_token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    """Revoke one of the actor's tokens; it stops working at the next request."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk, user=actor)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        event_record(actor=actor, verb="api_token.revoked", obj=token)
    return token
