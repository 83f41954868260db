"""Scoped reads of the calendar's entries (the calendar itself is bihuan.core.workdays)."""

from __future__ import annotations

from django.db.models import QuerySet

from bihuan.accounts.policies import Capability, can
from bihuan.core.models import CalendarDay


def calendar_days_visible_to(user: object) -> QuerySet[CalendarDay]:
    """Calendar entries, withdrawn ones included, for those who manage the calendar."""
    if not can(user, Capability.CALENDAR_MANAGE):
        return CalendarDay.objects.none()
    return CalendarDay.objects.select_related("created_by", "updated_by")
