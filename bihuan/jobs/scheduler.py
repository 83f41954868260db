"""The periodic scheduler: settings.BIHUAN_SCHEDULE turned into tasks, each slot enqueued once.

A tick computes, for each entry, its due slot (the latest slot at or before now) and inserts a
ScheduledRun row for it; the unique (name, slot) constraint is the lock between schedulers, so any
number of them may run. Only the scheduler whose insert succeeded enqueues the task, in the same
transaction. Because only the latest slot is considered, a scheduler that was down runs a missed
job once when it comes back, not once per missed slot.

Written here rather than taken from a library: rq-scheduler and django-q tie the schedule to one
queue backend, while this works with whichever Django Tasks backend is configured.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks.base import Task

from bihuan.jobs.models import ScheduledRun

logger = logging.getLogger(__name__)

# daily_at is read on the clock of the place Bihuan serves, whatever the server's clock says.
SCHEDULE_TIME_ZONE = ZoneInfo("Asia/Shanghai")
_DAILY_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Entry:
    """One job of the schedule: a task enqueued every N minutes or once a day."""

    name: str
    task_path: str
    every: datetime.timedelta | None = None
    daily_at: datetime.time | None = None

    @property
    def task(self) -> Task[Any, Any]:
        return import_string(self.task_path)  # type: ignore[no-any-return]


def _entry(raw: Any, index: int) -> Entry:
    where = f"BIHUAN_SCHEDULE[{index}]"
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"{where} must be a dict.")
    unknown = set(raw) - {"name", "task", "every_minutes", "daily_at"}
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
    name, task_path = raw.get("name"), raw.get("task")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ImproperlyConfigured(f"{where} needs a name of lower-case letters, digits and _.")
    if not isinstance(task_path, str):
        raise ImproperlyConfigured(f"{where} ({name}) needs the dotted path of a task.")
    try:
        task = import_string(task_path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{where} ({name}): cannot import {task_path}: {exc}") from None
    if not isinstance(task, Task):
        raise ImproperlyConfigured(f"{where} ({name}): {task_path} is not a task (use @task).")
    if ("every_minutes" in raw) == ("daily_at" in raw):
        raise ImproperlyConfigured(f"{where} ({name}) needs either every_minutes or daily_at.")
    if "every_minutes" in raw:
        minutes = raw["every_minutes"]
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 1440:
            raise ImproperlyConfigured(f"{where} ({name}): every_minutes must be 1 to 1440.")
        return Entry(name=name, task_path=task_path, every=datetime.timedelta(minutes=minutes))
    match = _DAILY_AT.match(str(raw["daily_at"]))
    if not match:
        raise ImproperlyConfigured(f"{where} ({name}): daily_at must be HH:MM (00:00 to 23:59).")
    at = datetime.time(int(match[1]), int(match[2]))
    return Entry(name=name, task_path=task_path, daily_at=at)


def schedule_entries(raw: list[Any] | None = None) -> list[Entry]:
    """The schedule from settings (or ``raw``), validated; a bad entry is refused loudly."""
    raw = settings.BIHUAN_SCHEDULE if raw is None else raw
    entries = [_entry(item, i) for i, item in enumerate(raw)]
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ImproperlyConfigured(f"BIHUAN_SCHEDULE names {', '.join(duplicates)} twice.")
    return entries


def due_slot(entry: Entry, now: datetime.datetime) -> datetime.datetime:
    """The latest slot of the entry at or before ``now``, in UTC."""
    if entry.every is not None:
        # Slots are counted from the Unix epoch, so every scheduler computes the same ones;
        # Shanghai is a whole number of hours from UTC, so 10 minutes falls on :00, :10, ….
        step = int(entry.every.total_seconds())
        seconds = int(now.timestamp())
        return datetime.datetime.fromtimestamp(seconds - seconds % step, tz=datetime.UTC)
    assert entry.daily_at is not None
    local = now.astimezone(SCHEDULE_TIME_ZONE)
    slot = datetime.datetime.combine(local.date(), entry.daily_at, tzinfo=SCHEDULE_TIME_ZONE)
    if slot > local:
        slot -= datetime.timedelta(days=1)
    return slot.astimezone(datetime.UTC)


def scheduler_tick(
    *, now: datetime.datetime | None = None, entries: list[Entry] | None = None
) -> list[ScheduledRun]:
    """Enqueue each entry's due slot unless some scheduler already did; returns the new runs."""
    now = now or timezone.now()
    entries = schedule_entries() if entries is None else entries
    started: list[ScheduledRun] = []
    for entry in entries:
        slot = due_slot(entry, now)
        # Cheap check first, so a quiet tick writes nothing and logs no constraint violation.
        if ScheduledRun.objects.filter(name=entry.name, slot=slot).exists():
            continue
        with transaction.atomic():
            try:
                with transaction.atomic():
                    run = ScheduledRun.objects.create(name=entry.name, slot=slot)
            except IntegrityError:
                continue  # another scheduler inserted this slot first: it enqueues it
            # In the same transaction as the row: if enqueuing fails, the slot is not taken.
            result = entry.task.enqueue(slot.isoformat())
            run.task_result_id = str(result.id)[:64]
            run.save(update_fields=["task_result_id"])
        logger.info("Enqueued %s for slot %s (task %s)", entry.name, slot.isoformat(), result.id)
        started.append(run)
    return started
