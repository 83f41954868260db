"""``manage.py run_scheduler``: one tick with --once, a loop that stops promptly on a signal."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from bihuan.jobs.models import ScheduledRun

SCHEDULE = [{"name": "beat", "task": "bihuan.jobs.tasks.heartbeat", "every_minutes": 10}]


@override_settings(BIHUAN_SCHEDULE=SCHEDULE)
def test_once_runs_one_tick_and_exits(db: None) -> None:
    out = io.StringIO()
    call_command("run_scheduler", "--once", stdout=out)
    [run] = ScheduledRun.objects.all()
    assert out.getvalue().startswith(f"Enqueued beat for {run.slot.isoformat()}")
    call_command("run_scheduler", "--once", stdout=io.StringIO())
    assert ScheduledRun.objects.count() == 1


@override_settings(BIHUAN_SCHEDULE=[{"name": "beat", "task": "no.such.task", "every_minutes": 1}])
def test_a_bad_schedule_stops_the_command_before_any_tick(db: None) -> None:
    with pytest.raises(Exception, match="cannot import"):
        call_command("run_scheduler", "--once")
    assert not ScheduledRun.objects.exists()


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(CommandError, match="positive"):
        call_command("run_scheduler", "--interval", "0")


def test_help_explains_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "run_scheduler", "--help"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "BIHUAN_SCHEDULE" in result.stdout
    assert "--interval" in result.stdout and "--once" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_loop_stops_promptly_on_a_signal(signum: int, tmp_path: Path) -> None:
    # An empty schedule, so the scheduler process never touches a database.
    (tmp_path / "empty_schedule.py").write_text(
        "from config.settings.test import *  # noqa: F403\nBIHUAN_SCHEDULE = []\n"
    )
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "empty_schedule",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_scheduler", "--interval", "3600"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = process.stdout.readline()
        assert started.startswith("Scheduler started: 0 job(s)"), started
        process.send_signal(signum)
        # The interval is an hour: returning within seconds means the signal cut the wait short.
        process.wait(timeout=15)
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""
        assert process.stdout.read().strip() == "Scheduler stopped."
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
