"""A real task worker killed mid-way through the overdue scan, then restarted, urges each once.

The scan runs in ``manage.py db_worker`` (a separate process on the test database), is killed with
SIGKILL once it has urged a few orders, and a second worker runs the scan again. Every overdue
order must end with exactly one urge and at most one escalation: claims are conditional updates
made in the same transaction as the reminder, so the kill rolls back only the order in hand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q

from bihuan.leads.generator import generate_leads
from bihuan.leads.models import Reminder, WorkOrder
from bihuan.leads.tasks import overdue_scan
from bihuan.leads.workflow import OrderStatus, ReminderKind
from bihuan.territory.models import Region

LEADS = 300
KILL_AFTER = 5
TIMEOUT = 120


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = quote(db["USER"] or "")
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


def _worker(log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.2",
            "--max-tasks",
            "1",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _urges() -> int:
    return Reminder.objects.filter(kind=ReminderKind.URGE).count()


def test_a_worker_killed_mid_scan_and_restarted_urges_each_order_once(
    live_db: None, demo_city: dict[str, int], tmp_path: Path
) -> None:
    generate_leads(
        count=LEADS, status="dispatched", within=Region.objects.get(code="420902"), overdue_share=1
    )
    overdue = WorkOrder.objects.filter(
        Q(status=OrderStatus.AWAITING) | Q(status=OrderStatus.SIGNED)
    ).count()
    assert overdue > LEADS

    overdue_scan.enqueue("first")
    first = _worker(tmp_path / "first.log")
    deadline = time.monotonic() + TIMEOUT
    while _urges() < KILL_AFTER and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    done_when_killed = _urges()
    assert KILL_AFTER <= done_when_killed < overdue, (
        f"the worker must be killed mid-scan ({done_when_killed} of {overdue} urged): "
        + (tmp_path / "first.log").read_text(errors="replace")[-2000:]
    )

    overdue_scan.enqueue("second")
    second = _worker(tmp_path / "second.log")
    assert second.wait(timeout=TIMEOUT * 3) == 0, (tmp_path / "second.log").read_text(
        errors="replace"
    )[-2000:]

    per_order = WorkOrder.objects.annotate(
        urges=Count("reminders", filter=Q(reminders__kind=ReminderKind.URGE)),
        escalations=Count("reminders", filter=Q(reminders__kind=ReminderKind.ESCALATE)),
    )
    assert set(per_order.values_list("urges", flat=True)) == {1}
    assert set(per_order.values_list("escalations", flat=True)) <= {0, 1}
    assert set(per_order.values_list("urge_count", flat=True)) == {1}
