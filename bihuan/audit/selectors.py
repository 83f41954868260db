"""Scoped reads of the audit trail: only the audit administrator reads it."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from bihuan.accounts.policies import Capability, can
from bihuan.audit.chain import chain_head
from bihuan.audit.models import Event
from bihuan.audit.services import CHAIN_VERIFIED, CHAIN_VERIFY_REQUESTED


def events_visible_to(user: object) -> QuerySet[Event]:
    """Every event for the audit administrator; nothing for anyone else."""
    if can(user, Capability.AUDIT_READ):
        return Event.objects.all()
    return Event.objects.none()


def chain_state_visible_to(user: object) -> dict[str, Any] | None:
    """The hash chain's head, the last verification and whether one is waiting (auditor only)."""
    if not can(user, Capability.AUDIT_READ):
        return None
    verified = Event.objects.filter(verb=CHAIN_VERIFIED).order_by("-id").first()
    requested = Event.objects.filter(verb=CHAIN_VERIFY_REQUESTED).order_by("-id").first()
    return {
        "head": chain_head(),
        "verified": verified,
        "result": verified.after if verified is not None else None,
        "waiting": requested is not None and (verified is None or requested.pk > verified.pk),
    }
