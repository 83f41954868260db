"""Public tips: the parent's side of a lead (tracking code, channel) and the bureau's replies."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bihuan.core.fields import BlindIndexField, EncryptedTextField
from bihuan.core.masking import mask_phone
from bihuan.leads.models import Lead


class Channel(models.TextChoices):
    WEB = "web", _("tip page")
    OPEN311 = "open311", _("Open311")


class PublicTip(models.Model):
    """A lead that a member of the public sent, and the code they follow it with."""

    lead = models.OneToOneField(
        Lead, on_delete=models.PROTECT, related_name="public_tip", verbose_name=_("lead")
    )
    tracking_code = models.CharField(_("tracking code"), max_length=16, unique=True)
    # Kept for the rate limits and the bureau (who reads it on the lead); masked everywhere else.
    # Encrypted; phone_hash (a keyed hash of the number) is what the rate limits count by.
    phone = EncryptedTextField(_("phone"), max_length=20, blank=True)
    phone_hash = BlindIndexField(source="phone", kind="phone")
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.WEB
    )
    # The public category the sender chose (the Open311 service code); it stays what they said
    # when the bureau later classifies the lead differently.
    category = models.CharField(_("category"), max_length=32, default="other", db_index=True)
    # A keyed hash of the sender's address: enough to count, never the address itself.
    ip_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # The form's one-time token: a double tap finds the first tip instead of making a second.
    form_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(_("sent"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("public tip")
        verbose_name_plural = _("public tips")

    def __str__(self) -> str:
        return self.tracking_code

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone) if self.phone else ""


class PublicReply(models.Model):
    """What the bureau tells the parent; shown on the status page, its author never is."""

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="public_replies", verbose_name=_("lead")
    )
    text = models.TextField(_("reply"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("author"),
    )
    created_at = models.DateTimeField(_("written"), auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("public reply")
        verbose_name_plural = _("public replies")

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.text[:30]}"


class StatusLookupMiss(models.Model):
    """A tracking code that was not found: counted per address to stop guessing."""

    ip_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["ip_hash", "created_at"], name="intake_miss_by_ip")]

    def __str__(self) -> str:
        return f"{self.ip_hash[:8]} {self.created_at:%Y-%m-%d %H:%M}"
