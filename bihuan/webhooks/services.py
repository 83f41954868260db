"""Writes of the webhooks: subscriptions, the emit hook the other apps call, and sending.

Sending uses ``requests`` with redirects off: a redirect could point the request at an address
the SSRF check refused.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.policies import Capability, can
from bihuan.audit.services import event_record
from bihuan.core.errors import NotAllowed, ServiceError
from bihuan.territory.models import Region
from bihuan.webhooks import signing
from bihuan.webhooks.models import Attempt, Delivery, DeliveryStatus, EventKind, Subscription

CAPABILITY = Capability.DEPARTMENT_MANAGE
TIMEOUT_SECONDS = 5
# After the 1st, 2nd, … failed attempt; when they run out the delivery has failed.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
BODY_LIMIT = 500
# How long a claimed delivery is left to its worker before the scheduler may take it over.
LEASE = timedelta(minutes=10)


def _require(actor: Any) -> None:
    if not can(actor, CAPABILITY):
        raise NotAllowed(_("Your roles do not allow managing webhooks."))


def _loopback_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_LOOPBACK", settings.DEBUG))


def _refused_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip.is_loopback and _loopback_allowed():
        return False
    return not ip.is_global or ip.is_multicast


def check_url(url: str) -> str:
    """Refuse endpoints that are not https, or that resolve to a private or local address (SSRF)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ServiceError(_("Give an https:// address."), field="url")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise ServiceError(_("This host name does not resolve."), field="url") from None
    ips = {ipaddress.ip_address(info[4][0]) for info in infos}
    if any(_refused_ip(ip) for ip in ips):
        raise ServiceError(
            _("Private, loopback and link-local addresses are refused."), field="url"
        )
    if parts.scheme == "http" and not (_loopback_allowed() and all(ip.is_loopback for ip in ips)):
        raise ServiceError(_("Give an https:// address."), field="url")
    return url.strip()


def _check_kinds(kinds: list[str]) -> list[str]:
    chosen = sorted(set(kinds))
    if not chosen or any(k not in EventKind.values for k in chosen):
        raise ServiceError(_("Choose at least one event."), field="kinds")
    return chosen


def _event(actor: Any, verb: str, sub: Subscription, **after: Any) -> None:
    event_record(actor=actor, verb=verb, obj=sub, after={"url": sub.url, **after})


@transaction.atomic
def subscription_create(
    *, actor: Any, url: str, kinds: list[str], region: Region | None, description: str = ""
) -> tuple[Subscription, str]:
    """Subscribe an endpoint; returns the secret, which is shown this once."""
    _require(actor)
    secret = signing.new_secret()
    sub = Subscription.objects.create(
        url=check_url(url),
        kinds=_check_kinds(kinds),
        region=region,
        description=description.strip()[:200],
        secret=secret,
        created_by=actor,
    )
    _event(actor, "webhook.created", sub, kinds=sub.kinds, region=region.code if region else "")
    return sub, secret


def _lock(sub: Subscription) -> Subscription:
    locked = Subscription.objects.select_for_update().get(pk=sub.pk)
    if not locked.is_active:
        raise ServiceError(_("This subscription was deleted."))
    return locked


@transaction.atomic
def subscription_set_paused(
    *, actor: Any, subscription: Subscription, paused: bool
) -> Subscription:
    """Pause (nothing is queued for it) or resume a subscription."""
    _require(actor)
    sub = _lock(subscription)
    sub.is_paused = paused
    sub.save(update_fields=["is_paused"])
    _event(actor, "webhook.paused" if paused else "webhook.resumed", sub)
    return sub


@transaction.atomic
def subscription_rotate_secret(
    *, actor: Any, subscription: Subscription
) -> tuple[Subscription, str]:
    """Replace the secret; the new one is shown this once."""
    _require(actor)
    sub = _lock(subscription)
    secret = signing.new_secret()
    sub.secret = secret
    sub.save(update_fields=["secret"])
    _event(actor, "webhook.secret_rotated", sub)
    return sub, secret


@transaction.atomic
def subscription_deactivate(*, actor: Any, subscription: Subscription) -> Subscription:
    """Delete = deactivate: the row and its delivery log stay; pending deliveries fail."""
    _require(actor)
    sub = _lock(subscription)
    sub.is_active = False
    sub.save(update_fields=["is_active"])
    Delivery.objects.filter(subscription=sub, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None
    )
    _event(actor, "webhook.deactivated", sub)
    return sub


def _subscribers(kind: str, region: Region | None) -> list[Subscription]:
    subs = Subscription.objects.filter(is_active=True, is_paused=False)
    if region is None:
        subs = subs.filter(region__isnull=True)
    else:
        ancestors = [region.path[: i + 1] for i, c in enumerate(region.path) if c == "/"]
        subs = subs.filter(Q(region__isnull=True) | Q(region__path__in=ancestors))
    # JSON "contains" is not on SQLite; subscriptions are few, so filter the kinds here.
    return [s for s in subs if kind in s.kinds]


def emit(kind: str, obj: Any, payload: dict[str, Any]) -> list[Delivery]:
    """The hook other services call: queue one delivery per subscriber, sent after commit.

    ``obj`` gives the region (its own ``region``, or its lead's) that decides who may hear of it;
    ``payload`` must hold no personal data.
    """
    region = getattr(obj, "region", None)
    if region is None and getattr(obj, "lead", None) is not None:
        region = obj.lead.region
    created = []
    now = timezone.now()
    for sub in _subscribers(kind, region):
        delivery_id = uuid.uuid4()
        body = json.dumps(
            {"id": str(delivery_id), "kind": kind, "created_at": now.isoformat(), "data": payload},
            ensure_ascii=False,
            sort_keys=True,
            default=str,
        )
        created.append(
            Delivery.objects.create(
                id=delivery_id, subscription=sub, kind=kind, body=body, next_attempt_at=now
            )
        )
    if created:
        ids = [str(d.pk) for d in created]
        transaction.on_commit(lambda: _enqueue(ids))
    return created


def _enqueue(ids: list[str]) -> None:
    from bihuan.webhooks.tasks import deliver

    for pk in ids:
        deliver.enqueue(pk)


def _due(now: datetime) -> QuerySet[Delivery]:
    # A SENDING row whose lease ran out belongs to a worker that died mid-send: take it over
    # (the receiver deduplicates on X-Bihuan-Delivery should that worker have sent it after all).
    # No join: the conditions must sit on the delivery row itself, so that PostgreSQL re-checks
    # them on the row a concurrent claim just committed (a joined UPDATE becomes "pk IN
    # (subquery)", whose answer is not re-evaluated, and both workers would send).
    live = Subscription.objects.filter(is_active=True, is_paused=False).values("pk")
    return Delivery.objects.filter(
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING),
        next_attempt_at__lte=now,
        subscription_id__in=live,
    )


def _claim(pk: Any, now: datetime) -> bool:
    """Take a due delivery for this worker; a second worker's UPDATE matches no row."""
    return (
        _due(now).filter(pk=pk).update(status=DeliveryStatus.SENDING, next_attempt_at=now + LEASE)
        == 1
    )


def _post(delivery: Delivery) -> tuple[int | None, str, str]:
    sub = delivery.subscription
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Bihuan-Webhooks/1",
        "X-Bihuan-Event": delivery.kind,
        "X-Bihuan-Delivery": str(delivery.pk),
        "X-Bihuan-Timestamp": timestamp,
        "X-Bihuan-Signature": signing.sign(sub.secret, timestamp, delivery.body),
    }
    try:
        # The address is checked again: DNS may have changed since the subscription was made.
        check_url(sub.url)
        response = requests.post(
            sub.url,
            data=delivery.body.encode(),
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except ServiceError as exc:
        return None, "", exc.message[:300]
    except requests.RequestException as exc:
        return None, "", f"{type(exc).__name__}: {exc}"[:300]
    return response.status_code, response.text[:BODY_LIMIT], ""


def delivery_send(delivery_id: Any, *, now: datetime | None = None) -> bool | None:
    """Send one due delivery once: None if another worker has it or it is not due."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = Delivery.objects.select_related("subscription").get(pk=delivery_id)
    started = time.monotonic()
    status_code, body, error = _post(delivery)
    duration = int((time.monotonic() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        Attempt.objects.create(
            delivery=delivery,
            status_code=status_code,
            response_body=body,
            duration_ms=duration,
            error=error,
        )
        delivery.attempts += 1
        if ok:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.DELIVERED, None
        elif delivery.attempts <= len(BACKOFF):
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = timezone.now() + BACKOFF[delivery.attempts - 1]
        else:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        delivery.save(update_fields=["attempts", "status", "next_attempt_at"])
    return ok


def deliveries_retry_due(now: datetime | None = None) -> int:
    """The scheduler's pass: send every pending delivery whose backoff has run out."""
    now = now or timezone.now()
    due = _due(now).order_by("next_attempt_at").values_list("pk", flat=True)
    return sum(1 for pk in list(due[:200]) if delivery_send(pk, now=now) is not None)


@transaction.atomic
def delivery_resend(*, actor: Any, delivery: Delivery) -> Delivery:
    """“Send again”: a finished delivery goes back to the queue, same id and body."""
    _require(actor)
    delivery = (
        Delivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
    )
    if not delivery.subscription.is_active:
        raise ServiceError(_("This subscription was deleted."))
    if delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
        raise ServiceError(_("This delivery is already queued."))
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    _event(actor, "webhook.resent", delivery.subscription, delivery=str(delivery.pk))
    ids = [str(delivery.pk)]
    transaction.on_commit(lambda: _enqueue(ids))
    return delivery


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def lead_payload(lead: Any) -> dict[str, Any]:
    """What a subscriber learns of a lead: ids, reference, status, region code, times."""
    return {
        "lead": lead.pk,
        "reference": lead.reference,
        "status": lead.status,
        "source": lead.source,
        "region": lead.region.code,
        "created_at": _iso(lead.created_at),
        "dispatched_at": _iso(lead.dispatched_at),
        "closed_at": _iso(lead.closed_at),
    }


def order_payload(order: Any) -> dict[str, Any]:
    """What a subscriber learns of a work order: no reply text, no names."""
    return {
        "work_order": order.pk,
        "lead": order.lead_id,
        "reference": order.lead.reference,
        "status": order.status,
        "department": order.department_id,
        "region": order.lead.region.code,
        "sign_due": _iso(order.sign_due),
        "reply_due": _iso(order.reply_due),
        "replied_at": _iso(order.replied_at),
    }
