"""Background jobs of the loop, run by the task worker on the scheduler's slots."""

from __future__ import annotations

from django_tasks import task

from bihuan.leads import clock


@task()
def overdue_scan(slot: str = "") -> dict[str, int]:
    """Urge and escalate overdue work orders; tell the bureau of its own overdue steps."""
    return clock.overdue_scan().as_dict()


@task()
def daily_digest(slot: str = "") -> int:
    """Send each officer and supervisor the day's summary (once per day, whatever the reruns)."""
    return clock.daily_digest(slot[:10] if slot else None)
