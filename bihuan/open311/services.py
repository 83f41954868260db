"""Writes of Open311: API keys created and revoked by a system administrator, POSTs counted."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record, snapshot
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.intake.models import Channel, PublicTip
from bihuan.intake.services import tip_create
from bihuan.open311.models import ApiClient, ClientRequest

# API clients are configuration of how outside systems connect, like the linked departments.
MANAGE = Capability.DEPARTMENT_MANAGE
POSTS_PER_WINDOW = 60
WINDOW = datetime.timedelta(hours=1)
_FIELDS = ["name", "key_prefix", "is_active", "revoked_at"]


def key_digest(key: str) -> str:
    """The stored form of a key: SHA-256 is enough for 256-bit random keys (no guessing to slow)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _require(actor: Any) -> None:
    if not can(actor, MANAGE):
        raise NotAllowed(_("You may not manage API keys."))


@transaction.atomic
def api_client_create(*, actor: Any, name: str) -> tuple[ApiClient, str]:
    """Create a client and return it with its key, which is never stored nor shown again."""
    _require(actor)
    name = name.strip()
    if not name:
        raise ServiceError(_("An API client needs a name."), field="name")
    key = secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        name=name[:100], key_hash=key_digest(key), key_prefix=key[:8], created_by=actor
    )
    event_record(
        actor=actor, verb="open311.client.created", obj=client, after=snapshot(client, _FIELDS)
    )
    return client, key


@transaction.atomic
def api_client_revoke(*, actor: Any, client: ApiClient) -> ApiClient:
    """Revoke a key for good; a revoked client is kept for the audit trail."""
    _require(actor)
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if not client.is_active:
        raise ServiceError(_("This key is already revoked."))
    before = snapshot(client, _FIELDS)
    client.is_active = False
    client.revoked_at = timezone.now()
    client.save(update_fields=["is_active", "revoked_at"])
    event_record(
        actor=actor,
        verb="open311.client.revoked",
        obj=client,
        before=before,
        after=snapshot(client, _FIELDS),
    )
    return client


def api_client_spend(client: ApiClient) -> bool:
    """Count one POST against the client's window; False when the window is full."""
    now = timezone.now()
    expired = Q(window_started_at__isnull=True) | Q(window_started_at__lte=now - WINDOW)
    if ApiClient.objects.filter(expired, pk=client.pk).update(
        window_started_at=now, window_count=1
    ):
        return True
    return bool(
        ApiClient.objects.filter(pk=client.pk, window_count__lt=POSTS_PER_WINDOW).update(
            window_count=F("window_count") + 1
        )
    )


@transaction.atomic
def request_create(*, client: ApiClient, **fields: Any) -> PublicTip:
    """A tip sent by a keyed client: the tip and the note of which client sent it, together."""
    tip = tip_create(channel=Channel.OPEN311, **fields)
    ClientRequest.objects.create(client=client, tracking_code=tip.tracking_code)
    return tip
