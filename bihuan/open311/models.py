"""API clients allowed to POST Open311 service requests."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiClient(models.Model):
    """An outside system (12345 hotline, a provincial platform) holding one Open311 api_key."""

    name = models.CharField(_("name"), max_length=100)
    # Only a SHA-256 of the key is kept: the key is shown once, at creation, and never again.
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(_("key prefix"), max_length=8)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    # A fixed-window POST counter kept in the row, not in a per-process cache, so that the limit
    # holds across every server process; spent with one conditional UPDATE.
    window_started_at = models.DateTimeField(null=True, blank=True)
    window_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_active=True, revoked_at__isnull=True)
                | models.Q(is_active=False, revoked_at__isnull=False),
                name="open311_apiclient_revoked_iff_inactive",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"


class ClientRequest(models.Model):
    """Which client posted which tip, so that a client may list the requests it sent."""

    client = models.ForeignKey(
        ApiClient, on_delete=models.PROTECT, related_name="requests", verbose_name=_("client")
    )
    # The tip's tracking code rather than a foreign key: the public id is all Open311 speaks.
    tracking_code = models.CharField(_("tracking code"), max_length=32, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "-created_at"], name="open311_req_by_client")]

    def __str__(self) -> str:
        return self.tracking_code
