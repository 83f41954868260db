"""Reads of Open311: API clients for their administrators, and a key's client."""

from __future__ import annotations

import datetime
from collections.abc import Collection, Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from bihuan.accounts.policies import can
from bihuan.intake.categories import PublicCategory, category
from bihuan.intake.models import PublicReply, PublicTip
from bihuan.intake.selectors import PublicStatus, public_status
from bihuan.intake.services import normalise_code
from bihuan.open311.models import ApiClient, ClientRequest
from bihuan.open311.services import MANAGE, key_digest


def api_clients_visible_to(user: object) -> QuerySet[ApiClient]:
    """Every client for a system administrator (keys are city-wide), none for anyone else."""
    if not can(user, MANAGE):
        return ApiClient.objects.none()
    return ApiClient.objects.select_related("created_by")


def api_client_for_key(key: str) -> ApiClient | None:
    """The active client holding this key, or None (missing, unknown and revoked look the same)."""
    if not key:
        return None
    return ApiClient.objects.filter(key_hash=key_digest(key), is_active=True).first()


def _category_of(tip: PublicTip) -> PublicCategory:
    """The category the sender chose ("other" for a code no longer offered)."""
    try:
        return category(tip.category)
    except KeyError:
        return category("other")


def _w3c(moment: datetime.datetime | None) -> str | None:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def public_requests(
    *,
    codes: Sequence[str] = (),
    client: ApiClient | None = None,
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
    service_codes: Sequence[str] = (),
    statuses: Collection[str] = (),
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Open311 request documents: exactly the tip page's public view, nothing internal.

    By tracking codes (whoever holds a code may follow it, as on the tip page), or a client's own
    requests in a period. The reporter's description, address and pin are not repeated back: the
    status page does not show them either, so a leaked code reveals no more here than there.
    """
    tips = PublicTip.objects.select_related("lead").order_by("-created_at", "-pk")
    if codes:
        # As on the tip page, a code typed in lower case or with dashes still finds its tip.
        tips = tips.filter(tracking_code__in=[normalise_code(c) for c in codes])
    elif client is not None:
        mine = ClientRequest.objects.filter(client=client).values("tracking_code")
        tips = tips.filter(tracking_code__in=mine)
    else:
        return []
    if start is not None:
        tips = tips.filter(created_at__gte=start)
    if end is not None:
        tips = tips.filter(created_at__lte=end)
    if service_codes:
        tips = tips.filter(category__in=service_codes)
    rows: list[dict[str, Any]] = []
    # The status is worked out per tip, so a filter on it reads the whole period (at most 90 days
    # of one client's requests) before the limit applies.
    page = list(tips if statuses else tips[:limit])
    replies: dict[int, list[tuple[datetime.datetime, str]]] = {}
    for reply in PublicReply.objects.filter(lead__in=[t.lead_id for t in page]).order_by(
        "created_at", "pk"
    ):
        replies.setdefault(reply.lead_id, []).append((reply.created_at, reply.text))
    for tip in page:
        kind = _category_of(tip)
        status = public_status(tip.lead)
        closed = status in (PublicStatus.HANDLED, PublicStatus.NOT_SUBSTANTIATED)
        state = "closed" if closed else "open"
        if statuses and state not in statuses:
            continue
        said = replies.get(tip.lead_id, [])
        closed_at = (tip.lead.closed_at or tip.lead.updated_at) if closed else None
        moments = [tip.created_at, tip.lead.accepted_at, closed_at, *(m for m, _t in said)]
        rows.append(
            {
                "service_request_id": tip.tracking_code,
                "status": state,
                "status_notes": str(PublicStatus(status).label),
                "service_name": kind.name,
                "service_code": kind.code,
                "description": "\n\n".join(text for _m, text in said),
                "agency_responsible": _("Education Bureau"),
                "service_notice": "",
                "requested_datetime": _w3c(tip.created_at),
                "updated_datetime": _w3c(max(m for m in moments if m is not None)),
                "expected_datetime": None,
                "address": "",
                "address_id": "",
                "zipcode": "",
                "lat": None,
                "long": None,
                "media_url": "",
            }
        )
        if len(rows) >= limit:
            break
    return rows
