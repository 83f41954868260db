"""The append-only event log: the audit trail and, later, the source of every figure."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    """One change, login or refusal, written by the service that made it; never changed."""

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    # The username at the time, so the record reads the same after a rename.
    actor_label = models.CharField(_("actor name"), max_length=150, blank=True)
    verb = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"], name="event_object_history"),
            models.Index(fields=["verb", "at"], name="event_verb_by_time"),
            models.Index(fields=["actor", "at"], name="event_actor_by_time"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.verb} {self.object_repr}"


class Seal(models.Model):
    """One link of the hash chain over the event log, written after the event's commit."""

    # Chain position, given by the sealer (head + 1), not by a sequence: no gaps unless removed.
    seq = models.BigIntegerField(_("sequence"), primary_key=True)
    # No database foreign key: an event removed behind the log's back must leave its seal dangling
    # for verify_audit to report, not take the seal with it or block the test that removes it.
    event = models.OneToOneField(
        Event,
        on_delete=models.PROTECT,
        db_constraint=False,
        related_name="seal",
        verbose_name=_("event"),
    )
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)
    key_id = models.CharField(_("key id"), max_length=16)
    sealed_at = models.DateTimeField(_("sealed"), auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("seal")
        verbose_name_plural = _("seals")
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_seal_seq_positive"),
            # A hash has one successor: two sealers racing cannot fork the chain.
            models.UniqueConstraint(fields=["prev_hash"], name="audit_seal_one_successor"),
        ]
        indexes = [models.Index(fields=["sealed_at"], name="audit_seal_by_time")]

    def __str__(self) -> str:
        return f"#{self.seq} event {self.event_id} {self.hash[:12]}"
