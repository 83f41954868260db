"""The scheduler enqueues each slot of each job once, however many schedulers tick."""

from __future__ import annotations

import datetime
import threading
import traceback
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from bihuan.jobs.models import Heartbeat, ScheduledRun
from bihuan.jobs.scheduler import Entry, due_slot, schedule_entries, scheduler_tick
from bihuan.jobs.tasks import heartbeat

HEARTBEAT = "bihuan.jobs.tasks.heartbeat"
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
# 2026-03-02 09:07:30 in Shanghai.
NOW = datetime.datetime(2026, 3, 2, 9, 7, 30, tzinfo=SHANGHAI)
EVERY_10 = {"name": "beat", "task": HEARTBEAT, "every_minutes": 10}
DAILY_8 = {"name": "digest", "task": HEARTBEAT, "daily_at": "08:00"}


def _entries(*raw: dict[str, Any]) -> list[Entry]:
    return schedule_entries(list(raw))


def _jobs() -> list[list[Any]]:
    rows = DBTaskResult.objects.filter(task_path=HEARTBEAT).order_by("enqueued_at")
    return [r.args_kwargs["args"] for r in rows]


def test_every_minutes_slots_fall_on_the_boundary_at_or_before_now() -> None:
    [entry] = _entries(EVERY_10)
    assert due_slot(entry, NOW) == datetime.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
    on_boundary = NOW.replace(minute=10, second=0)
    assert due_slot(entry, on_boundary) == on_boundary


def test_a_daily_slot_is_today_once_the_time_has_passed_in_shanghai() -> None:
    [entry] = _entries(DAILY_8)
    assert due_slot(entry, NOW) == datetime.datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)
    early = NOW.replace(hour=7, minute=59)
    assert due_slot(entry, early) == datetime.datetime(2026, 3, 1, 8, 0, tzinfo=SHANGHAI)
    # 01:00 UTC is 09:00 in Shanghai: the same day's 08:00 slot, whatever the server's clock.
    utc = datetime.datetime(2026, 3, 2, 1, 0, tzinfo=datetime.UTC)
    assert due_slot(entry, utc) == datetime.datetime(2026, 3, 2, 0, 0, tzinfo=datetime.UTC)


def test_a_tick_enqueues_each_due_slot_with_its_slot_as_argument(db: None) -> None:
    runs = scheduler_tick(now=NOW, entries=_entries(EVERY_10, DAILY_8))
    assert sorted((r.name, r.slot) for r in runs) == [
        ("beat", datetime.datetime(2026, 3, 2, 1, 0, tzinfo=datetime.UTC)),
        ("digest", datetime.datetime(2026, 3, 2, 0, 0, tzinfo=datetime.UTC)),
    ]
    assert sorted(_jobs()) == [["2026-03-02T00:00:00+00:00"], ["2026-03-02T01:00:00+00:00"]]
    assert all(r.task_result_id for r in ScheduledRun.objects.all())


def test_a_second_tick_in_the_same_slot_enqueues_nothing(db: None) -> None:
    entries = _entries(EVERY_10)
    scheduler_tick(now=NOW, entries=entries)
    assert scheduler_tick(now=NOW + datetime.timedelta(minutes=2), entries=entries) == []
    assert len(_jobs()) == 1


def test_the_next_slot_is_enqueued_when_it_comes(db: None) -> None:
    entries = _entries(EVERY_10)
    scheduler_tick(now=NOW, entries=entries)
    [run] = scheduler_tick(now=NOW + datetime.timedelta(minutes=3), entries=entries)
    assert run.slot == datetime.datetime(2026, 3, 2, 9, 10, tzinfo=SHANGHAI)


def test_slots_missed_while_down_run_once_when_the_scheduler_comes_back(db: None) -> None:
    entries = _entries(EVERY_10, DAILY_8)
    scheduler_tick(now=NOW, entries=entries)
    three_days_later = NOW + datetime.timedelta(days=3, hours=1)
    runs = scheduler_tick(now=three_days_later, entries=entries)
    assert sorted((r.name, r.slot) for r in runs) == [
        ("beat", datetime.datetime(2026, 3, 5, 10, 0, tzinfo=SHANGHAI)),
        ("digest", datetime.datetime(2026, 3, 5, 8, 0, tzinfo=SHANGHAI)),
    ]
    assert len(_jobs()) == 4


def test_the_schedule_comes_from_settings(db: None) -> None:
    with override_settings(BIHUAN_SCHEDULE=[EVERY_10]):
        [run] = scheduler_tick(now=NOW)
    assert run.name == "beat"


@override_settings(
    TASKS={"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
)
def test_the_task_runs_with_the_slot_it_was_enqueued_for(db: None) -> None:
    scheduler_tick(now=NOW, entries=_entries(EVERY_10))
    [beat] = Heartbeat.objects.all()
    assert beat.slot == "2026-03-02T01:00:00+00:00"


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ({"task": HEARTBEAT, "every_minutes": 5}, "name"),
        ({"name": "Bad Name", "task": HEARTBEAT, "every_minutes": 5}, "name"),
        ({"name": "x", "every_minutes": 5}, "dotted path"),
        ({"name": "x", "task": "bihuan.jobs.tasks.nothing", "every_minutes": 5}, "cannot import"),
        ({"name": "x", "task": "bihuan.jobs.scheduler.due_slot", "every_minutes": 5}, "not a task"),
        ({"name": "x", "task": HEARTBEAT}, "either"),
        ({"name": "x", "task": HEARTBEAT, "every_minutes": 5, "daily_at": "08:00"}, "either"),
        ({"name": "x", "task": HEARTBEAT, "every_minutes": 0}, "1 to 1440"),
        ({"name": "x", "task": HEARTBEAT, "every_minutes": "5"}, "1 to 1440"),
        ({"name": "x", "task": HEARTBEAT, "daily_at": "8:00"}, "HH:MM"),
        ({"name": "x", "task": HEARTBEAT, "daily_at": "24:00"}, "HH:MM"),
        ({"name": "x", "task": HEARTBEAT, "every_minutes": 5, "cron": "*"}, "unknown keys"),
    ],
)
def test_a_bad_schedule_entry_is_refused_loudly(raw: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=complaint):
        schedule_entries([raw])


def test_a_job_named_twice_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="twice"):
        schedule_entries([EVERY_10, EVERY_10 | {"every_minutes": 5}])


def test_heartbeat_records_a_row(db: None) -> None:
    row_id = heartbeat.call("2026-03-02T01:00:00+00:00")
    assert Heartbeat.objects.get(pk=row_id).slot == "2026-03-02T01:00:00+00:00"


SCHEDULERS = 2
TICKS = 10


def _scheduler(
    entries: list[Entry],
    start: threading.Barrier,
    enqueued: list[tuple[str, datetime.datetime]],
    errors: list[str],
) -> None:
    try:
        start.wait(timeout=30)
        for i in range(TICKS):
            # Both schedulers walk the same clock: every other tick enters a new 10-minute slot.
            now = NOW + datetime.timedelta(minutes=5 * i)
            enqueued.extend((r.name, r.slot) for r in scheduler_tick(now=now, entries=entries))
    except BaseException:
        errors.append(traceback.format_exc())
    finally:
        connection.close()


def test_two_schedulers_at_once_enqueue_each_slot_once(live_db: None) -> None:
    entries = _entries(EVERY_10, DAILY_8)
    start = threading.Barrier(SCHEDULERS)
    enqueued: list[tuple[str, datetime.datetime]] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_scheduler, args=(entries, start, enqueued, errors))
        for _ in range(SCHEDULERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    # 09:07:30 + 5 min × 0…9 crosses the slots 09:00 … 09:50 (6 of them); the daily slot once.
    expected = 6 + 1
    assert len(enqueued) == len(set(enqueued)) == expected
    assert ScheduledRun.objects.count() == expected
    assert len(_jobs()) == expected
