"""Scoped reads of the audit trail: only the audit administrator reads it."""

from __future__ import annotations

from django.db.models import QuerySet

from bihuan.accounts.policies import Capability, can
from bihuan.audit.models import Event


def events_visible_to(user: object) -> QuerySet[Event]:
    """Every event for the audit administrator; nothing for anyone else."""
    if can(user, Capability.AUDIT_READ):
        return Event.objects.all()
    return Event.objects.none()
