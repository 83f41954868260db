"""Background work of boundary imports, run by the task worker.

Kept apart from the registry's other tasks so that the parts of the registry can be worked on
independently; it may join ``tasks.py`` when that exists.
"""

from __future__ import annotations

from django_tasks import task

from bihuan.registry.boundaries import boundary_import_apply


@task()
def apply_boundary_import(record_id: int) -> dict[str, int]:
    """Apply a queued boundary import; returns its counts (outlines changed, institutions moved)."""
    record = boundary_import_apply(record_id)
    return {k: v for k, v in record.counts.items() if isinstance(v, int)}
