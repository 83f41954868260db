"""Enforcement outcomes (查处) of a lead, and the fees refunded to families."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bihuan.accounts.models import Department
from bihuan.leads.models import Lead
from bihuan.registry.models import Institution
from bihuan.territory.models import Region


class CaseStatus(models.TextChoices):
    OPEN = "open", _("open")
    CONCLUDED = "concluded", _("concluded")


class ReinspectionResult(models.TextChoices):
    PENDING = "pending", _("awaiting re-inspection")
    PASSED = "passed", _("rectified")
    FAILED = "failed", _("not rectified")


class Case(models.Model):
    """The enforcement outcome of one lead: rectification, penalty, closure, blacklisting."""

    lead = models.OneToOneField(
        Lead, on_delete=models.PROTECT, related_name="case", verbose_name=_("lead")
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("institution"),
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="cases", verbose_name=_("region")
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("handled by"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    rectification_order = models.CharField(_("rectification order"), max_length=500, blank=True)
    rectification_due = models.DateField(_("rectify by"), null=True, blank=True)
    reinspection = models.CharField(
        _("re-inspection"), max_length=10, choices=ReinspectionResult.choices, blank=True
    )
    reinspected_at = models.DateTimeField(_("re-inspected"), null=True, blank=True)
    penalty_fen = models.PositiveBigIntegerField(_("penalty (fen)"), null=True, blank=True)
    penalty_basis = models.CharField(_("legal basis of the penalty"), max_length=300, blank=True)
    penalty_document = models.CharField(_("decision number"), max_length=100, blank=True)
    closure_ordered = models.BooleanField(_("closure ordered"), default=False)
    blacklisted = models.BooleanField(_("blacklisted"), default=False)
    summary = models.TextField(_("summary"), blank=True)
    # Fixed when the case is concluded, so a later taxonomy edit does not rewrite last year.
    is_disguised = models.BooleanField(_("disguised subject tutoring"), default=False)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    concluded_at = models.DateTimeField(_("concluded"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=CaseStatus.CONCLUDED) | Q(concluded_at__isnull=False),
                name="case_concluded_has_date",
            ),
            models.CheckConstraint(
                condition=Q(penalty_fen__isnull=True) | ~Q(penalty_basis=""),
                name="case_penalty_has_basis",
            ),
            models.CheckConstraint(
                condition=Q(rectification_order="") | Q(rectification_due__isnull=False),
                name="case_rectification_has_deadline",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "concluded_at"], name="case_concluded_by_date"),
            models.Index(fields=["region", "status"], name="case_by_region_status"),
        ]

    def __str__(self) -> str:
        return f"{self.lead.reference}"

    @property
    def outcomes(self) -> list[str]:
        """What was decided, in words, for lists."""
        items: list[str] = []
        if self.rectification_order:
            items.append(str(_("rectification")))
        if self.penalty_fen is not None:
            items.append(str(_("penalty")))
        if self.closure_ordered:
            items.append(str(_("closure")))
        if self.blacklisted:
            items.append(str(_("blacklisted")))
        return items


class RefundStatus(models.TextChoices):
    REPORTED = "reported", _("reported")
    VERIFIED = "verified", _("verified")
    REJECTED = "rejected", _("rejected")


class Refund(models.Model):
    """Fees refunded to families (清退), in fen; only verified refunds count in the figures."""

    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("case")
    )
    amount_fen = models.PositiveBigIntegerField(_("amount (fen)"))
    families = models.PositiveIntegerField(_("families"))
    status = models.CharField(
        _("status"), max_length=10, choices=RefundStatus.choices, default=RefundStatus.REPORTED
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reported_at = models.DateTimeField(_("reported"), auto_now_add=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    rejection_reason = models.CharField(_("reason rejected"), max_length=500, blank=True)

    class Meta:
        ordering = ["-reported_at", "-pk"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_fen__gte=1, families__gte=1), name="refund_positive"
            ),
            models.CheckConstraint(
                condition=~Q(status=RefundStatus.VERIFIED)
                | Q(verified_at__isnull=False, verified_by__isnull=False),
                name="refund_verified_has_verifier",
            ),
            models.CheckConstraint(
                condition=~Q(status=RefundStatus.REJECTED) | ~Q(rejection_reason=""),
                name="refund_rejected_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["status", "verified_at"], name="refund_verified_by_date")]

    def __str__(self) -> str:
        return f"{self.case} ¥{self.amount_fen / 100:.2f}"

    @property
    def amount_yuan(self) -> str:
        return f"{self.amount_fen / 100:,.2f}"
