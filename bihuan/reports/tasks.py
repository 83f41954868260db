"""Background job of the figures: fold recent changes into the rollups."""

from __future__ import annotations

from django_tasks import task

from bihuan.reports import rollups


@task()
def refresh_figures(slot: str = "") -> dict[str, int]:
    """Rebuild the rollups of the days changed since the last run (the first run builds all)."""
    days, rows = rollups.refresh()
    return {"days": days, "rows": rows}
