"""Scoped reads of notifications: a user sees their own and nobody else's."""

from __future__ import annotations

from django.db.models import QuerySet

from bihuan.notifications.models import Notification


def notifications_visible_to(user: object) -> QuerySet[Notification]:
    """The user's own notifications, newest first."""
    pk = getattr(user, "pk", None)
    if not getattr(user, "is_authenticated", False) or pk is None:
        return Notification.objects.none()
    return Notification.objects.filter(user_id=pk).order_by("-created_at", "-id")


def unread_count(user: object) -> int:
    """How many of the user's notifications are unread (one indexed count)."""
    return notifications_visible_to(user).filter(read_at__isnull=True).count()
