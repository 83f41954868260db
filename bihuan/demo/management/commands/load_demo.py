"""manage.py load_demo: the demo city of Xiaogan (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bihuan.demo.data import DEMO_PASSWORD, USERS
from bihuan.demo.loader import load_demo
from bihuan.leads.demo import load_demo_leads
from bihuan.registry.demo import load_demo_registry
from bihuan.reports.demo import load_demo_history
from bihuan.screening.demo import load_demo_screening


class Command(BaseCommand):
    help = (
        "Load the demo city: Xiaogan's real division codes (孝感市 420900, its seven county-level "
        "divisions, Xiaonan's urban streets), 文昌社区 and 体育路学校, the nine departments, one "
        "area with its responsible parties, one demo account per role, and a registry of about 300 "
        "synthetic institutions with near-duplicates for the matcher, and three leads (a tip "
        "waiting for triage, one in the departments' hands, one closed). Synthetic records are "
        "marked as such. Then a synthetic year of activity (1 January → yesterday: closed rounds, "
        "approved inspections, leads through the loop, cases, refunds, joint operations) unless "
        "--no-history. Running it again creates nothing new."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--quiet-logins", action="store_true", help="Do not print the demo logins."
        )
        parser.add_argument(
            "--no-history",
            action="store_true",
            help="Do not write the synthetic year of activity (rounds, leads, cases, refunds).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        created = load_demo()
        summary = ", ".join(f"{k} {v}" for k, v in created.items())
        self.stdout.write(self.style.SUCCESS(f"Demo city loaded (created: {summary})."))
        registry = load_demo_registry()
        summary = ", ".join(f"{k} {v}" for k, v in registry.items())
        self.stdout.write(self.style.SUCCESS(f"Demo registry loaded (created: {summary})."))
        leads = load_demo_leads()
        self.stdout.write(self.style.SUCCESS(f"Demo leads loaded (created: {leads['leads']})."))
        screening = load_demo_screening()
        self.stdout.write(
            self.style.SUCCESS(f"Demo round loaded (created: {screening['rounds']}).")
        )
        if not options["no_history"]:
            history = load_demo_history()
            summary = ", ".join(f"{k} {v}" for k, v in history.items())
            self.stdout.write(self.style.SUCCESS(f"Demo history loaded (created: {summary})."))
        if not options["quiet_logins"]:
            self.stdout.write(f"Demo password for every account: {DEMO_PASSWORD}")
            for username, display, _phone, role, _region, _extra in USERS:
                self.stdout.write(f"  {username:<12} {role:<18} {display}")
