"""Scheduled runs: one row per slot of a periodic job, so that each slot is enqueued once."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ScheduledRun(models.Model):
    """One slot of one schedule entry, claimed by the scheduler that enqueued it."""

    name = models.CharField(_("job"), max_length=64)
    slot = models.DateTimeField(_("slot"))
    enqueued_at = models.DateTimeField(_("enqueued"), default=timezone.now)
    task_result_id = models.CharField(_("task result"), max_length=64, blank=True)

    class Meta:
        ordering = ["-slot", "name"]
        verbose_name = _("scheduled run")
        verbose_name_plural = _("scheduled runs")
        constraints = [
            # The lock between schedulers: the second insert of a slot fails, so it is not enqueued.
            models.UniqueConstraint(fields=["name", "slot"], name="scheduled_run_once_per_slot"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.slot.isoformat()}"


class Heartbeat(models.Model):
    """A row written by the heartbeat task: proof that the scheduler and a worker both run."""

    slot = models.CharField(_("slot"), max_length=64, blank=True)
    ran_at = models.DateTimeField(_("ran"), default=timezone.now)
    # Which worker ran it: "pid@host", to tell workers (and test processes) apart.
    worker = models.CharField(_("worker"), max_length=100, blank=True)

    class Meta:
        ordering = ["-ran_at", "-id"]
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.slot or self.ran_at.isoformat()} ({self.worker})"


class StrandedJob(models.Model):
    """A job a dead worker left running, found by the reaper, and what became of it."""

    result_id = models.CharField(_("task result"), max_length=64, unique=True)
    task_path = models.CharField(_("task"), max_length=200)
    started_at = models.DateTimeField(_("started"), null=True)
    found_at = models.DateTimeField(_("found"), default=timezone.now)
    # 1 for a job stranded once; a re-run that strands again counts one more.
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=1)
    # The task result enqueued in its place; empty when the reaper gave up.
    requeued_as = models.CharField(_("enqueued again as"), max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-found_at"]
        verbose_name = _("stranded job")
        verbose_name_plural = _("stranded jobs")

    def __str__(self) -> str:
        return f"{self.task_path} {self.result_id} (attempt {self.attempt})"
