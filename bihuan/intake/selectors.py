"""What the public may read about a tip: its public status, dates and the bureau's replies only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bihuan.intake.models import PublicReply, PublicTip
from bihuan.leads.models import Lead
from bihuan.leads.workflow import ClosureReason, LeadStatus


class PublicStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    IN_PROGRESS = "in_progress", _("Being handled")
    HANDLED = "handled", _("Handled")
    NOT_SUBSTANTIATED = "not_substantiated", _("Closed: not substantiated")


_HANDLING = {LeadStatus.ACCEPTED, LeadStatus.DISPATCHED, LeadStatus.REPLIED, LeadStatus.VERIFIED}
# Merges are followed to the surviving lead, at most this deep (merges never chain far).
_MERGE_DEPTH = 5


def public_status(lead: Lead) -> str:
    """One of the four public statuses for a lead's internal status (merges followed)."""
    for _step in range(_MERGE_DEPTH):
        if lead.status != LeadStatus.MERGED or lead.merged_into_id is None:
            break
        lead = Lead.objects.only("status", "closure_reason", "merged_into").get(
            pk=lead.merged_into_id
        )
    if lead.status == LeadStatus.NEW:
        return PublicStatus.RECEIVED
    if lead.status in _HANDLING or lead.status == LeadStatus.MERGED:
        return PublicStatus.IN_PROGRESS
    if lead.status == LeadStatus.DISMISSED:
        return PublicStatus.NOT_SUBSTANTIATED
    if lead.closure_reason == ClosureReason.NOT_SUBSTANTIATED:
        return PublicStatus.NOT_SUBSTANTIATED
    return PublicStatus.HANDLED


@dataclass(frozen=True)
class PublicView:
    """Everything the status page shows: nothing about departments, officers or notes."""

    tracking_code: str
    status: str
    status_label: str
    sent_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None
    masked_phone: str
    replies: list[tuple[datetime, str]]


def tip_by_code(code: str) -> PublicTip | None:
    """The tip with this tracking code, or None."""
    if not code:
        return None
    return PublicTip.objects.select_related("lead").filter(tracking_code=code).first()


def public_view(tip: PublicTip) -> PublicView:
    """The parent's view of their tip."""
    lead = tip.lead
    status = public_status(lead)
    replies = [(r.created_at, r.text) for r in public_replies(lead).only("created_at", "text")]
    closed = status in (PublicStatus.HANDLED, PublicStatus.NOT_SUBSTANTIATED)
    return PublicView(
        tracking_code=tip.tracking_code,
        status=status,
        status_label=str(PublicStatus(status).label),
        sent_at=tip.created_at,
        accepted_at=lead.accepted_at,
        closed_at=(lead.closed_at or lead.updated_at) if closed else None,
        masked_phone=tip.masked_phone,
        replies=replies,
    )


def public_replies(lead: Lead) -> QuerySet[PublicReply]:
    """The bureau's replies to the parent, oldest first."""
    return PublicReply.objects.filter(lead=lead).order_by("created_at", "pk")
