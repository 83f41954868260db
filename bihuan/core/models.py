"""Abstract models shared by apps: the record of an uploaded file and of importing it."""

from __future__ import annotations

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
