"""Rollups of the headline figures: additive values per metric, slice and day."""

from __future__ import annotations

from django.db import models


class FigureRollup(models.Model):
    """One metric's value for one slice (``region:12``, ``area:3``, ``department:5``) on one day.

    Values add up over days, so a figure for a period is one indexed SUM over at most 366 rows.
    Distinct institutions do not add up; ``inst_y`` / ``inst_q`` / ``inst_m`` count the
    institutions whose first approved visit of the year / quarter / month (in the slice) fell on
    the day, which does add up from the start of that year / quarter / month.
    """

    metric = models.CharField(max_length=16)
    scope = models.CharField(max_length=24)
    day = models.DateField()
    value = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "metric", "day"], name="figure_rollup_one_per_day"
            )
        ]
        indexes = [models.Index(fields=["day"], name="figure_rollup_by_day")]

    def __str__(self) -> str:
        return f"{self.metric} {self.scope} {self.day}: {self.value}"


class RollupState(models.Model):
    """Where the rollups stand: every event up to ``watermark`` is folded in (one row, pk 1)."""

    watermark = models.BigIntegerField(default=0)
    # When the last refresh began: events written since may have ids below the watermark
    # (their transaction committed late), so they are looked at again for a while.
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"rollups through event {self.watermark}"
