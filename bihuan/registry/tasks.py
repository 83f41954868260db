"""Background work of the registry, run by the task worker (``manage.py db_worker``)."""

from __future__ import annotations

from django_tasks import task

from bihuan.registry.imports import institution_import_apply, institution_import_check


@task()
def check_institution_import(record_id: int) -> dict[str, int]:
    """The dry run of an uploaded registry file; returns its counts per action."""
    record = institution_import_check(record_id)
    return {
        k: v for k, v in record.summary.items() if isinstance(v, int) and not isinstance(v, bool)
    }


@task()
def apply_institution_import(record_id: int) -> dict[str, int]:
    """Apply a confirmed registry import; returns the counts of what it wrote."""
    record = institution_import_apply(record_id)
    return {
        k: v for k, v in record.outcome.items() if isinstance(v, int) and not isinstance(v, bool)
    }
