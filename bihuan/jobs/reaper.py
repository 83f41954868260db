"""Jobs left running by a worker that died: marked failed and enqueued again, a few times.

The database task backend claims a job by marking it RUNNING and has no lease: a worker killed
mid-job (OOM, a deploy, a power cut) leaves the row RUNNING for ever, and a one-off job (an
import, a fan-out of notices) would never finish. Every job of Bihuan is written to be run again
safely (each claims its rows with a conditional update or runs in one transaction), so a job
RUNNING for longer than ``TASKS_STALE_MINUTES`` is taken as lost: its row is marked failed with
``WorkerLost`` and the same task with the same arguments is enqueued again, up to
``REAP_MAX_ATTEMPTS`` times for one original job. Each decision writes an audit event.

Only the database backend needs this: RQ keeps its own registry of abandoned jobs.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from bihuan.audit.services import event_record
from bihuan.jobs.models import StrandedJob

logger = logging.getLogger(__name__)

REAP_MAX_ATTEMPTS = 3


class WorkerLost(Exception):
    """The worker running this job stopped before the job finished."""


@dataclass(frozen=True)
class Reaped:
    result_id: str
    task_path: str
    attempt: int
    requeued_as: str


def _uses_database_backend() -> bool:
    backend = settings.TASKS.get("default", {}).get("BACKEND", "")
    return str(backend).startswith("django_tasks_db.")


def reap_stranded(*, now: datetime.datetime | None = None) -> list[Reaped]:
    """Fail and re-enqueue every job RUNNING for longer than TASKS_STALE_MINUTES."""
    if not _uses_database_backend():
        return []
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    cutoff = now - datetime.timedelta(minutes=settings.TASKS_STALE_MINUTES)
    stale = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff)
    done: list[Reaped] = []
    for result_id in stale.values_list("id", flat=True)[:500]:
        reaped = _reap_one(str(result_id), cutoff)
        if reaped is not None:
            done.append(reaped)
    return done


@transaction.atomic
def _reap_one(result_id: str, cutoff: datetime.datetime) -> Reaped | None:
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    row = (
        DBTaskResult.objects.select_for_update()
        .filter(pk=result_id, status=TaskResultStatus.RUNNING, started_at__lt=cutoff)
        .first()
    )
    if row is None:  # finished, or another reaper took it, since the list was read
        return None
    earlier = StrandedJob.objects.filter(requeued_as=result_id).first()
    attempt = earlier.attempt + 1 if earlier else 1
    row.set_failed(WorkerLost(f"no worker finished this job in {settings.TASKS_STALE_MINUTES} min"))
    requeued_as = ""
    if attempt <= REAP_MAX_ATTEMPTS:
        task = import_string(row.task_path)
        arguments = row.args_kwargs or {}
        again = task.using(queue_name=row.queue_name, priority=row.priority).enqueue(
            *arguments.get("args", []), **arguments.get("kwargs", {})
        )
        requeued_as = str(again.id)
    stranded = StrandedJob.objects.create(
        result_id=result_id,
        task_path=row.task_path,
        started_at=row.started_at,
        attempt=attempt,
        requeued_as=requeued_as,
    )
    event_record(
        actor=None,
        actor_label="system",
        verb="job.requeued" if requeued_as else "job.abandoned",
        obj=stranded,
        after={"task": row.task_path, "attempt": attempt, "requeued_as": requeued_as},
    )
    if not requeued_as:
        logger.error("Gave up on %s after %s lost runs (%s)", row.task_path, attempt, result_id)
    return Reaped(result_id, row.task_path, attempt, requeued_as)
