"""The Redis/RQ task backend: a task enqueued on Redis runs in a real RQ worker process.

Needs Redis on 127.0.0.1:6379 (``.ci/run`` starts it). A missing Redis fails the test: a skipped
test would hide a broken deployment option. Only database 13 of that Redis is used, and flushed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django_tasks import TaskResultStatus

from bihuan.jobs.models import Heartbeat
from bihuan.jobs.tasks import heartbeat

REDIS_DB = 13
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
RQ_SETTINGS = {
    "TASKS": {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}},
    "RQ_QUEUES": {"default": {"URL": REDIS_URL}},
}


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    """This test's own Redis database, empty before and after."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(
            f"Redis on 127.0.0.1:6379 is required by the RQ backend test and is not reachable "
            f"({exc}). Start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 "
            f'--save "" --appendonly no` (.ci/run does so).'
        )
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _database_url() -> str:
    """The test database, as a URL a separate process can open."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = quote(db["USER"] or "")
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


def test_a_task_enqueued_on_redis_runs_in_an_rq_worker(
    live_db: None, redis_db: redis.Redis
) -> None:
    with override_settings(**RQ_SETTINGS):
        result = heartbeat.enqueue("rq")
    assert redis_db.exists(f"rq:job:{result.id}")
    assert not Heartbeat.objects.exists()

    # The worker is configured as a deployment would be: by the environment alone.
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TASKS_BACKEND": "django_tasks_rq.RQBackend",
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": _database_url(),
    }
    worker = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "rqworker",
            "--burst",
            "--job-class",
            "django_tasks_rq.Job",
            "default",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr

    [beat] = Heartbeat.objects.all()
    assert beat.slot == "rq"
    assert not beat.worker.startswith(f"{os.getpid()}@"), "the task ran in the test process"
    with override_settings(**RQ_SETTINGS):
        finished = heartbeat.get_result(result.id)
    assert finished.status == TaskResultStatus.SUCCESSFUL
    assert finished.return_value == beat.pk
