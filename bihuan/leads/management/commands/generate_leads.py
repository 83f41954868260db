"""Bulk-insert synthetic leads (and their work orders) for load tests and benchmarks."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bihuan.leads.generator import generate_leads
from bihuan.leads.workflow import LeadStatus
from bihuan.territory.models import Region


class Command(BaseCommand):
    help = (
        "Insert COUNT synthetic leads in the communities under --region (default: all): new leads "
        "waiting for triage, or dispatched leads with a lead and an assisting work order each. "
        "Rows are marked synthetic and each gets a creation event, so check_loop agrees with them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("count", type=int, help="How many leads to insert.")
        parser.add_argument(
            "--status",
            choices=[LeadStatus.NEW, LeadStatus.DISPATCHED],
            default=LeadStatus.NEW,
            help="new (default) or dispatched.",
        )
        parser.add_argument("--region", default="", help="Division code to put the leads under.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--overdue-share",
            type=float,
            default=0.01,
            help="Share of leads whose deadline has already passed (default 0.01).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["count"] < 1:
            raise CommandError("COUNT must be at least 1.")
        if not 0 <= options["overdue_share"] <= 1:
            raise CommandError("--overdue-share is a fraction between 0 and 1.")
        region = None
        if options["region"]:
            region = Region.objects.filter(code=options["region"]).first()
            if region is None:
                raise CommandError(f"No region with code {options['region']}.")
        try:
            result = generate_leads(
                count=options["count"],
                status=options["status"],
                within=region,
                seed=options["seed"],
                overdue_share=options["overdue_share"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"leads {result.leads}, work orders {result.work_orders}, events {result.events}"
        )
