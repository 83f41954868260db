"""Background work of the territory, run by the task worker."""

from __future__ import annotations

from django_tasks import task

from bihuan.territory.imports import region_import_apply


@task()
def apply_region_import(record_id: int) -> dict[str, int]:
    """Apply a queued region import; returns the counts of created, updated and unchanged rows."""
    record = region_import_apply(record_id)
    return {k: v for k, v in record.outcome.items() if isinstance(v, int)}
