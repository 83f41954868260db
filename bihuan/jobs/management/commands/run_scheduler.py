"""``manage.py run_scheduler``: enqueue the periodic jobs of settings.BIHUAN_SCHEDULE."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from bihuan.jobs.scheduler import Entry, schedule_entries, scheduler_tick

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Enqueue the periodic jobs listed in settings.BIHUAN_SCHEDULE. Each tick enqueues the "
        "latest due slot of every job that no scheduler has enqueued yet, so several schedulers "
        "may run at once and a scheduler that was down runs a missed job once, not once per "
        "missed slot. Stops promptly on SIGTERM or SIGINT."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=30.0,
            help="Seconds between ticks (default 30).",
        )
        parser.add_argument(
            "--once", action="store_true", help="Run one tick and exit (for cron and tests)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval: float = options["interval"]
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        # Validate the whole schedule before the first tick: a typo stops the process now.
        entries = schedule_entries()
        if options["once"]:
            self._tick(entries)
            return
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {
            signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self._loop(entries, interval, stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _loop(self, entries: list[Entry], interval: float, stop: threading.Event) -> None:
        self.stdout.write(f"Scheduler started: {len(entries)} job(s), a tick every {interval:g}s.")
        self.stdout.flush()
        while not stop.is_set():
            # A long-running process: drop connections that outlived CONN_MAX_AGE or broke.
            close_old_connections()
            try:
                self._tick(entries)
            except Exception:
                # A database hiccup must not kill the scheduler; the next tick tries again.
                logger.exception("Tick failed; trying again at the next tick.")
            # Event.wait returns as soon as a signal sets it: shutdown never waits a full interval.
            stop.wait(interval)
        self.stdout.write("Scheduler stopped.")

    def _tick(self, entries: list[Entry]) -> None:
        for run in scheduler_tick(entries=entries):
            self.stdout.write(f"Enqueued {run.name} for {run.slot.isoformat()}")
