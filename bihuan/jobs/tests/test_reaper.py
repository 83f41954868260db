"""The reaper: a job a dead worker left RUNNING is failed and enqueued again, a few times."""

from __future__ import annotations

import datetime

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from bihuan.audit.models import Event
from bihuan.jobs.models import StrandedJob
from bihuan.jobs.reaper import REAP_MAX_ATTEMPTS, reap_stranded
from bihuan.jobs.tasks import heartbeat

pytestmark = pytest.mark.django_db

HOUR = datetime.timedelta(hours=1)


def _strand(result_id: str, started_ago: datetime.timedelta) -> DBTaskResult:
    """Claim the job as a worker would, then let that worker vanish."""
    row = DBTaskResult.objects.get(pk=result_id)
    row.claim("worker-that-died")
    DBTaskResult.objects.filter(pk=row.pk).update(started_at=timezone.now() - started_ago)
    return DBTaskResult.objects.get(pk=row.pk)


def test_a_job_running_past_the_limit_is_failed_and_enqueued_again() -> None:
    job = heartbeat.enqueue("slot-1")
    _strand(job.id, 2 * HOUR)
    [reaped] = reap_stranded()
    old = DBTaskResult.objects.get(pk=job.id)
    assert old.status == TaskResultStatus.FAILED
    assert old.exception_class_path.endswith("WorkerLost")
    again = DBTaskResult.objects.get(pk=reaped.requeued_as)
    assert again.status == TaskResultStatus.READY
    assert again.task_path == old.task_path and again.args_kwargs == old.args_kwargs
    assert Event.objects.filter(verb="job.requeued").count() == 1


def test_a_job_still_within_the_limit_is_left_alone() -> None:
    job = heartbeat.enqueue("slot-2")
    _strand(job.id, datetime.timedelta(minutes=5))
    assert reap_stranded() == []
    assert DBTaskResult.objects.get(pk=job.id).status == TaskResultStatus.RUNNING


def test_a_job_that_keeps_dying_is_given_up_after_the_last_attempt() -> None:
    result_id = str(heartbeat.enqueue("slot-3").id)
    attempts = []
    for _ in range(REAP_MAX_ATTEMPTS + 1):
        _strand(result_id, 2 * HOUR)
        [reaped] = reap_stranded()
        attempts.append(reaped.attempt)
        result_id = reaped.requeued_as
    assert attempts == list(range(1, REAP_MAX_ATTEMPTS + 2))
    assert result_id == ""
    assert StrandedJob.objects.filter(requeued_as="").count() == 1
    assert Event.objects.filter(verb="job.abandoned").count() == 1


def test_reaping_twice_changes_nothing_more() -> None:
    job = heartbeat.enqueue("slot-4")
    _strand(job.id, 2 * HOUR)
    assert len(reap_stranded()) == 1
    assert reap_stranded() == []
    assert DBTaskResult.objects.filter(task_path=heartbeat.module_path).count() == 2


@override_settings(TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}})
def test_other_backends_are_not_touched() -> None:
    assert reap_stranded() == []
