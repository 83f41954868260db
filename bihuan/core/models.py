"""Abstract models shared by apps: the record of an uploaded file and of importing it."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportStatus(models.TextChoices):
    CHECKED = "checked", _("checked (dry run)")
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class ImportRecord(models.Model):
    """An uploaded file, kept (subclasses add the FileField with their folder) with its status."""

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    original_name = models.CharField(_("file name"), max_length=200)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ImportStatus.choices, default=ImportStatus.CHECKED
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_open(self) -> bool:
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)


class RowImportRecord(ImportRecord):
    """An import of rows, with the counts its progress bar and summary show."""

    total = models.PositiveIntegerField(_("rows"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    error_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    outcome = models.JSONField(_("outcome"), default=dict)

    class Meta:
        abstract = True

    @property
    def percent(self) -> int:
        return int(self.processed * 100 / self.total) if self.total else 0


class CalendarDay(models.Model):
    """One exception to the weekday rule: a holiday, or a weekend make-up working day (调休)."""

    date = models.DateField(_("date"))
    is_workday = models.BooleanField(
        _("working day"),
        help_text=_("Unticked: a holiday. Ticked: a make-up working day on a weekend."),
    )
    name = models.CharField(_("name"), max_length=50)
    # Withdrawing an entry clears this; the row stays as history.
    is_active = models.BooleanField(_("active"), default=True)
    # From the State Council's yearly notice (部分节假日安排的通知), not a local change.
    is_official = models.BooleanField(_("official"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["date", "-created_at"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        constraints = [
            models.UniqueConstraint(
                fields=["date"],
                condition=models.Q(is_active=True),
                name="calendar_day_one_active_per_date",
            ),
            models.CheckConstraint(
                condition=models.Q(date__gte=date(2000, 1, 1), date__lte=date(2100, 12, 31)),
                name="calendar_day_date_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.name}"
