"""Notifications: what a user is told in the page header's bell and, if they have one, by email."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    """One thing one user is told once; read and emailed times are stamped, never deleted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="notifications",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("kind"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    # A path inside Bihuan (starting with "/"); emails prefix it with BIHUAN_BASE_URL.
    url = models.CharField(_("link"), max_length=500, blank=True)
    # What this notification is about (e.g. "lead:12:overdue:2026-01-05"): the same key is never
    # notified twice to one user, so callers may retry or rescan freely.
    key = models.CharField(_("key"), max_length=200)
    # Not auto_now_add: notify() stamps one batch with one time and finds its rows by it.
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    # Set by the worker that sends the email; a claim older than the timeout is taken over.
    email_claimed_at = models.DateTimeField(_("email claimed"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("emailed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="notification_once_per_user_key"),
        ]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_unread_count"),
            models.Index(fields=["user", "-created_at"], name="notification_newest_first"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
