"""manage.py dedupe_registry: find duplicate institutions in a region, merge or queue them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bihuan.registry.matching import AUTO_LINK, REVIEW
from bihuan.registry.merge import registry_dedupe
from bihuan.territory.models import Region


class Command(BaseCommand):
    help = (
        "Run the matcher over the current institutions of a region and its subtree: pairs "
        f"scoring {AUTO_LINK:g} or more are merged at once (the record with a credit code, else "
        "the older one, is kept; the other stays, marked as merged, and everything that referred "
        f"to it moves to the one kept); pairs from {REVIEW:g} go to the review queue for a "
        "person to decide. Nothing is deleted and every merge is audited. Safe to run again: "
        "merged records are not looked at twice and a queued pair is queued once."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--region",
            required=True,
            metavar="CODE",
            help="Division code of the region to deduplicate (6 or 12 digits), e.g. 420902.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        region = Region.objects.filter(code=options["region"]).first()
        if region is None:
            raise CommandError(f"No region has code {options['region']}.")
        counts = registry_dedupe(actor=None, within=region)
        self.stdout.write(
            f"{region.name} ({region.code}): institutions scanned {counts['scanned']}, "
            f"merged {counts['merged']}, pairs sent to review {counts['queued']}, "
            f"refused {counts['refused']}."
        )
