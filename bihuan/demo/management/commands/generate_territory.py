"""manage.py generate_territory: a synthetic province for scale tests, reproducible from a seed."""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bihuan.core.errors import ServiceError
from bihuan.demo.generator import PROVINCE_CODE, GeneratorParams, territory_generate

_DEFAULTS = GeneratorParams()


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is negative")
    return number


class Command(BaseCommand):
    help = (
        "Generate a synthetic province for scale and load testing: a province with a fictitious "
        f"code ({PROVINCE_CODE} by default; real provinces use 11 to 82), its cities, districts, "
        "streets and communities with valid division codes, one area of responsibility per "
        "street, a sentinel per community and school sentinels, the nine linked departments at "
        "the province and at every city, and accounts with one assignment each (administrators, "
        "supervisors, officers, coordinators, school sentinels, and inspectors for the rest). "
        "Every record is marked synthetic. The same seed gives the same codes, names and "
        "usernames. Everything is written in one transaction with bulk inserts and recorded as "
        "one audit event; the command refuses to run when the province already exists. The "
        "defaults are province scale (about 270,000 rows)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--seed",
            type=int,
            default=_DEFAULTS.seed,
            help="Seed of the random choices; the same seed gives the same data (default 1).",
        )
        parser.add_argument(
            "--province",
            default=_DEFAULTS.province,
            help=f"Province code, from 900000 to 990000 (default {PROVINCE_CODE}).",
        )
        parser.add_argument(
            "--districts",
            type=_count,
            default=_DEFAULTS.districts,
            help="County-level divisions; one city per ten of them (default 100).",
        )
        parser.add_argument(
            "--streets",
            type=_count,
            default=_DEFAULTS.streets,
            help="Streets and towns, at least one per district (default 1,500).",
        )
        parser.add_argument(
            "--communities",
            type=_count,
            default=_DEFAULTS.communities,
            help="Communities and villages, at least one per street (default 20,000).",
        )
        parser.add_argument(
            "--schools",
            type=_count,
            default=_DEFAULTS.schools,
            help="School sentinels, spread over the communities (default 10,000).",
        )
        parser.add_argument(
            "--users",
            type=_count,
            default=_DEFAULTS.users,
            help="Accounts, each with one assignment; most are inspectors (default 100,000).",
        )
        parser.add_argument(
            "--password",
            default=None,
            help="Give every generated account this password; without it they cannot sign in.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        params = GeneratorParams(
            districts=options["districts"],
            streets=options["streets"],
            communities=options["communities"],
            schools=options["schools"],
            users=options["users"],
            seed=options["seed"],
            province=options["province"],
        )
        started = time.perf_counter()
        try:
            generated = territory_generate(params, password=options["password"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        seconds = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {generated.province.name} ({generated.province.code}) "
                f"from seed {params.seed}."
            )
        )
        for name, count in generated.counts.items():
            self.stdout.write(f"  {name:<18} {count:>9,}")
        for role, count in generated.roles.items():
            self.stdout.write(f"  role {role:<13} {count:>9,}")
        rate = generated.rows / seconds if seconds else 0.0
        self.stdout.write(f"{generated.rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s).")
