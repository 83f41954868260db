"""manage.py check_loop: list every lead and work order that breaks a rule of the loop."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.core.management.base import BaseCommand

from bihuan.leads.integrity import loop_problems


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is negative")
    return number


class Command(BaseCommand):
    help = (
        "Check that the closed loop holds: every open lead has an owner and a deadline, no "
        "terminal lead keeps one, no work order is in an impossible state, every dispatched "
        "lead's status agrees with its live work orders, a department holds at most one live "
        "order per lead, and the last status recorded in the audit log of every lead and work "
        "order is its current status. Prints one line per problem and a count; exits with "
        "status 1 when there are problems, 0 when there are none. Read-only."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--limit",
            type=_limit,
            default=None,
            help="Print at most this many problems (the count still covers them all).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = loop_problems()
        limit = options["limit"]
        shown = problems if limit is None else problems[:limit]
        for problem in shown:
            self.stdout.write(str(problem))
        if len(shown) < len(problems):
            self.stdout.write(f"… {len(problems) - len(shown)} more not shown.")
        if not problems:
            self.stdout.write(self.style.SUCCESS("The loop holds: no problems found."))
            return
        self.stdout.write(self.style.ERROR(f"{len(problems)} problem(s) found."))
        # A non-zero status lets cron and CI notice without reading the output.
        sys.exit(1)
