"""Background work of the jobs app: a heartbeat that proves the scheduler and workers run."""

from __future__ import annotations

import os
import socket

from django_tasks import task

from bihuan.jobs.models import Heartbeat


@task()
def heartbeat(slot: str = "") -> int:
    """Record that a worker ran this job (for the slot it was scheduled for); returns the row id."""
    row = Heartbeat.objects.create(slot=slot, worker=f"{os.getpid()}@{socket.gethostname()}")
    return row.pk


@task()
def reap_stranded_jobs(slot: str = "") -> int:
    """Fail and enqueue again the jobs a dead worker left running; returns how many."""
    from bihuan.jobs.reaper import reap_stranded

    return len(reap_stranded())
